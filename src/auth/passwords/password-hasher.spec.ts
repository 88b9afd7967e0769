import { PasswordHasher } from './password-hasher';

describe('PasswordHasher (scrypt)', () => {
  const hasher = new PasswordHasher();

  it('stores scrypt with its parameters and a random salt, never the password', async () => {
    const a = await hasher.hash('correct horse battery staple');
    const b = await hasher.hash('correct horse battery staple');
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('horse');
  });

  it('verifies the right password and refuses a wrong one', async () => {
    const stored = await hasher.hash('correct horse battery staple');
    await expect(hasher.verify('correct horse battery staple', stored)).resolves.toBe(true);
    await expect(hasher.verify('correct horse battery stapl', stored)).resolves.toBe(false);
    await expect(hasher.verify('', stored)).resolves.toBe(false);
  });

  it('refuses malformed or tampered hashes instead of throwing or allocating huge memory', async () => {
    const stored = await hasher.hash('correct horse battery staple');
    const parts = stored.split('$');
    await expect(hasher.verify('x', 'not-a-hash')).resolves.toBe(false);
    await expect(hasher.verify('x', ['bcrypt', ...parts.slice(1)].join('$'))).resolves.toBe(false);
    await expect(hasher.verify('x', [parts[0], String(2 ** 30), ...parts.slice(2)].join('$'))).resolves.toBe(false);
    await expect(hasher.verify('x', [parts[0], '1000', ...parts.slice(2)].join('$'))).resolves.toBe(false);
  });

  it('verifies with the parameters stored in the hash (cost can change later)', async () => {
    const cheap = new PasswordHasher({ N: 1024, r: 8, p: 1 });
    const stored = await cheap.hash('an older password hash');
    expect(stored.startsWith('scrypt$1024$8$1$')).toBe(true);
    await expect(hasher.verify('an older password hash', stored)).resolves.toBe(true);
  });

  it('dummy verification (unknown email) does real scrypt work and is always false', async () => {
    const spy = jest.spyOn(hasher, 'verify');
    await expect(hasher.verifyDummy('whatever password')).resolves.toBe(false);
    expect(spy).toHaveBeenCalledWith('whatever password', expect.stringMatching(/^scrypt\$32768\$/));
    spy.mockRestore();
  });
});
