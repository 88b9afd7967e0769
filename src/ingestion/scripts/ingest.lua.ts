/**
 * Dedup + append for the events of ONE partition, in one atomic script (one round trip): the
 * events of one request, or of small requests that arrived together (see RedisEventAppender).
 *
 *   KEYS[1] stream   KEYS[2] ingested counter   KEYS[3] duplicates counter   KEYS[4] rejected counter
 *   KEYS[5] rate bucket of the current second    KEYS[6..] dedup keys (client-sent eventIds only)
 *   ARGV[1] dedup TTL (s)   ARGV[2] deadline, Redis time in ms (0 = none)   ARGV[3] rejected count to add
 *   ARGV[4] rate bucket TTL (s)   ARGV[5] event count n   ARGV[6] stream entry field/value count f
 *   ARGV[7] position of the event JSON in the entry
 *   ARGV[8] position of the receive time in the entry, or 0 when the entry's own value holds for all
 *   ARGV[9 .. 8+f] the entry template (encodeStreamEntry: the API key id is the same for all events)
 *   then per event: index of its dedup key in KEYS (0 = server-generated id, no dedup), its JSON,
 *     and its receive time when ARGV[8] is not 0 (small requests sharing one call)
 *
 * Returns one character per event: 'a' accepted (appended), 'd' duplicate.
 *
 * All-or-nothing, although Redis does not roll back a failing script:
 *  1. everything that can be checked is checked before the first write (argument shape, stream
 *     key type, the deadline);
 *  2. every write is made with redis.pcall; if one fails, the script deletes the entries it
 *     appended and the dedup keys it created (nobody else can have seen them: the script is
 *     atomic) and only then returns the error — so a client's retry is accepted, not "duplicate";
 *  3. counters are best-effort and updated last: a broken counter never fails an append.
 * The deadline makes a client-side timeout unambiguous: a script that reaches Redis after the
 * caller has given up (Redis paused, long queue) does nothing, so a 503 really means "nothing
 * was accepted".
 */
export const INGEST_LUA = `
local n = tonumber(ARGV[5])
local f = tonumber(ARGV[6])
local slot = tonumber(ARGV[7])
local rslot = tonumber(ARGV[8])
if not n or not f or not slot or not rslot or slot < 1 or slot > f or (rslot ~= 0 and (rslot < 1 or rslot > f or rslot == slot)) then
  return redis.error_reply('EVP_BADARGS bad stream entry layout')
end
local stride = rslot > 0 and 3 or 2
if #ARGV ~= 8 + f + stride * n then
  return redis.error_reply('EVP_BADARGS argument count does not match the event count')
end
local deadline = tonumber(ARGV[2])
if deadline and deadline > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now > deadline then
    return redis.error_reply('EVP_EXPIRED the request timed out before the script ran; nothing was written')
  end
end
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'stream' and kind ~= 'none' then
  return redis.error_reply('EVP_WRONGTYPE the stream key holds a ' .. kind)
end
local first = 9 + f
for i = 1, n do
  local k = tonumber(ARGV[first + (i - 1) * stride])
  if not k or (k ~= 0 and (k < 6 or k > #KEYS)) then
    return redis.error_reply('EVP_BADARGS bad dedup key index')
  end
end
local entry = {}
for j = 1, f do entry[j] = ARGV[8 + j] end

local ttl = ARGV[1]
local status = {}
local added = {}
local created = {}
local accepted, duplicates = 0, 0
local failure = nil
for i = 1, n do
  local base = first + (i - 1) * stride
  local k = tonumber(ARGV[base])
  local fresh = true
  if k > 0 then
    local r = redis.pcall('SET', KEYS[k], '1', 'NX', 'EX', ttl)
    if type(r) == 'table' and r['err'] then failure = r['err'] break end
    if r then created[#created + 1] = KEYS[k] else fresh = false end
  end
  if fresh then
    entry[slot] = ARGV[base + 1]
    if rslot > 0 then entry[rslot] = ARGV[base + 2] end
    local id = redis.pcall('XADD', KEYS[1], '*', unpack(entry))
    if type(id) == 'table' and id['err'] then failure = id['err'] break end
    added[#added + 1] = id
    accepted = accepted + 1
    status[i] = 'a'
  else
    duplicates = duplicates + 1
    status[i] = 'd'
  end
end

if failure then
  if #added > 0 then redis.pcall('XDEL', KEYS[1], unpack(added)) end
  if #created > 0 then redis.pcall('DEL', unpack(created)) end
  return redis.error_reply('EVP_ROLLEDBACK ' .. tostring(failure))
end

if accepted > 0 then
  redis.pcall('INCRBY', KEYS[2], accepted)
  local v = redis.pcall('INCRBY', KEYS[5], accepted)
  if v == accepted then redis.pcall('EXPIRE', KEYS[5], ARGV[4]) end
end
if duplicates > 0 then redis.pcall('INCRBY', KEYS[3], duplicates) end
local rejected = tonumber(ARGV[3]) or 0
if rejected > 0 then redis.pcall('INCRBY', KEYS[4], rejected) end
return table.concat(status)
`;

/** Fixed KEYS before the dedup keys. */
export const INGEST_FIXED_KEYS = 5;
