//! The Lua scripts the Redis store runs: each one makes a multi-step change atomic on the
//! server (a tag link with its expiry, a tag's members popped with the tag, a delete only
//! while the key still holds the tagged write, a version that only rises).

use fred::types::scripts::Script;

/// Adds a tagged key to a tag hash and stretches the hash's expiry to cover it.
/// KEYS[1]: tag; ARGV[1]: member TTL in ms (0: persistent); ARGV[2..]: key, write id pairs.
const TAG_ADD: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local ttl = tonumber(ARGV[1])
if ttl == 0 then
  redis.call('PERSIST', KEYS[1])
else
  local cur = redis.call('PTTL', KEYS[1])
  if existed == 0 or (cur >= 0 and cur < ttl) then redis.call('PEXPIRE', KEYS[1], ttl) end
end
return 1
";

/// Removes a tag and returns its members as a flat `key, id, ...` array.
const TAG_POP: &str = r"
local members = redis.call('HGETALL', KEYS[1])
redis.call('UNLINK', KEYS[1])
return members
";

/// Deletes each key that still holds the write with the given id; returns the deleted keys.
/// KEYS: keys of one slot; ARGV[i]: the write id for KEYS[i].
const DELETE_IF_WRITE: &str = r"
local deleted = {}
for i, k in ipairs(KEYS) do
  local head = redis.pcall('GETRANGE', k, 0, 16)
  if type(head) == 'string' and head == (string.char(203) .. ARGV[i]) then
    redis.call('UNLINK', k)
    deleted[#deleted + 1] = k
  end
end
return deleted
";

/// Raises a shared namespace version, never lowers it. KEYS[1]: version key; ARGV[1]: version.
const RAISE_VERSION: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local v = tonumber(ARGV[1])
if v > cur then redis.call('SET', KEYS[1], ARGV[1]) return v end
return cur
";

/// `PERSIST` that reports whether the key exists (PERSIST alone says 0 for a persistent key).
const PERSIST_EXISTING: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PERSIST', KEYS[1])
  return 1
end
return 0
";

pub(super) struct Scripts {
    pub(super) tag_add: Script,
    pub(super) tag_pop: Script,
    pub(super) delete_if_write: Script,
    pub(super) persist: Script,
    pub(super) raise_version: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            tag_add: Script::from_lua(TAG_ADD),
            tag_pop: Script::from_lua(TAG_POP),
            delete_if_write: Script::from_lua(DELETE_IF_WRITE),
            persist: Script::from_lua(PERSIST_EXISTING),
            raise_version: Script::from_lua(RAISE_VERSION),
        }
    }
}
