import { execFileSync } from 'node:child_process';
import { SERVER_V8_FLAGS } from './v8-flags';

/**
 * A child process compiles a one-function WebAssembly module, runs it hot (V8 tiers such a function
 * up to TurboFan within milliseconds), and reports which tier runs it. The flags are applied the way
 * applyServerV8Flags applies them: at run time, with setFlagsFromString, which a Node upgrade could
 * stop honouring — this test is there to say so.
 */
function tierAfterHotLoop(flags: readonly string[]): string {
  const script = `
    const v8 = require('node:v8');
    for (const f of ${JSON.stringify(flags)}) v8.setFlagsFromString(f);
    // (module (func (export "f") (param i32) (result i32) local.get 0 i32.const 1 i32.add))
    const bytes = new Uint8Array([0,97,115,109,1,0,0,0,1,6,1,96,1,127,1,127,3,2,1,0,7,5,1,1,102,0,0,10,9,1,7,0,32,0,65,1,106,11]);
    const f = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.f;
    // Tier-up compiles in the background: keep it hot and look again for up to 3 s (a busy CI machine).
    const deadline = Date.now() + 3000;
    let x = 0;
    const look = () => {
      for (let i = 0; i < 1e6; i++) x = f(x);
      if (%IsTurboFanFunction(f)) return process.stdout.write('turbofan');
      if (Date.now() > deadline) return process.stdout.write(%IsLiftoffFunction(f) ? 'liftoff' : 'other');
      setTimeout(look, 50);
    };
    look();
  `;
  return execFileSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8', timeout: 20_000 });
}

describe('server V8 flags', () => {
  it('without them a hot WebAssembly function is re-compiled by TurboFan (the probe works)', () => {
    expect(tierAfterHotLoop([])).toBe('turbofan');
  });

  it('with them, applied at run time, it stays on Liftoff', () => {
    expect(SERVER_V8_FLAGS).toContain('--liftoff-only');
    expect(tierAfterHotLoop(SERVER_V8_FLAGS)).toBe('liftoff');
  });
});
