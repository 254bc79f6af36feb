-- zero-db's Tarantool instance: configured from the environment by `zos zdb tarantool start`.
-- Users never edit this file; see docs/zdb.md "Tarantool engine".
local fio = require('fio')
local log = require('log')

local function split(text)
    local out = {}
    for item in string.gmatch(text or '', '[^,]+') do
        out[#out + 1] = item
    end
    return out
end

local dir = assert(os.getenv('ZDB_TT_DIR'), 'ZDB_TT_DIR is not set')
local listen = assert(os.getenv('ZDB_TT_LISTEN'), 'ZDB_TT_LISTEN is not set')
local replica_of = split(os.getenv('ZDB_TT_REPLICA_OF'))
local peers = split(os.getenv('ZDB_TT_PEERS'))
local quorum = tonumber(os.getenv('ZDB_TT_QUORUM') or '1')
local synchro_timeout = tonumber(os.getenv('ZDB_TT_SYNCHRO_TIMEOUT') or '5')
local USER = 'zdb'
local function read_secret(path)
    local fh = assert(io.open(path, 'r'), 'cannot read the password file ' .. path)
    local text = fh:read('*a')
    fh:close()
    return (string.gsub(text, '%s+$', ''))
end
local password = read_secret(assert(os.getenv('ZDB_TT_SECRET'), 'ZDB_TT_SECRET is not set'))

-- members replicate as zero-db's user: guest may do nothing
local function uri(address)
    return USER .. ':' .. password .. '@' .. address
end

local function uris(addresses)
    local out = {}
    for i, a in ipairs(addresses) do out[i] = uri(a) end
    return out
end

local restarted = #fio.glob(fio.pathjoin(dir, '*.snap')) > 0
local member = #replica_of > 0 or #peers > 0
-- a member of a replica set that restarts never takes writes by itself: zero-db promotes the
-- instance holding every acknowledged write (two writable members would split the set)
local read_only = #replica_of > 0 or (restarted and member)

-- a star, not a mesh: each replica pulls from the leader only. Tarantool 2.6.0 acknowledges a
-- synchronous write only from the applier that applied it, so a row that reached a replica
-- through another replica first was never acknowledged (writes then stall on the quorum).
-- zero-db points the members at a new leader after a failover (zdb_follow).
local replication = nil
if #replica_of > 0 then
    replication = uris(replica_of)
elseif restarted and #peers > 0 then
    replication = uris(peers)
end

box.cfg {
    listen = listen,
    work_dir = dir,
    replication = replication,
    replication_connect_quorum = 1,
    replication_connect_timeout = 2,
    replication_timeout = 0.5,
    read_only = read_only,
    memtx_memory = 64 * 1024 * 1024,
    vinyl_memory = 128 * 1024 * 1024,
    vinyl_cache = 64 * 1024 * 1024,
    vinyl_max_tuple_size = 16 * 1024 * 1024,
    memtx_max_tuple_size = 16 * 1024 * 1024,
}

-- zero-db connects (and the members replicate) as USER, with the password kept in the
-- instance's folder; guest loses what earlier versions of this script granted it
local function schema()
    box.schema.user.create(USER, { password = password, if_not_exists = true })
    box.schema.user.passwd(USER, password)
    box.schema.user.grant(USER, 'super', nil, nil, { if_not_exists = true })
    box.schema.user.revoke('guest', 'super', nil, nil, { if_exists = true })
    local opts = { engine = 'vinyl', if_not_exists = true }
    local ns = box.schema.space.create('zdb_ns', opts)
    ns:format({ { 'db', 'string' }, { 'name', 'string' }, { 'nsid', 'unsigned' },
        { 'settings', 'string' }, { 'disk', 'unsigned' }, { 'index', 'unsigned' } })
    ns:create_index('primary', { parts = { 1, 'string', 2, 'string' }, if_not_exists = true })
    ns:create_index('nsid', { parts = { 3, 'unsigned' }, if_not_exists = true })
    local data = box.schema.space.create('zdb_data', opts)
    -- nsid, id, key, value, timestamp_us, flags, prev (id of the previous version, or -1)
    data:create_index('primary', { parts = { 1, 'unsigned', 2, 'unsigned' }, if_not_exists = true })
    local keys = box.schema.space.create('zdb_keys', opts)
    -- nsid, key, id, size, timestamp_us
    keys:create_index('primary', { parts = { 1, 'unsigned', 2, 'string' }, if_not_exists = true })
    keys:create_index('byid', { parts = { 1, 'unsigned', 3, 'unsigned' }, if_not_exists = true })
    local chain = box.schema.space.create('zdb_chain', opts)
    -- nsid, file, offset, bytes
    chain:create_index('primary',
        { parts = { 1, 'unsigned', 2, 'string', 3, 'unsigned' }, if_not_exists = true })
    -- db, owner (host:pid:random), expiry (this leader's clock): one zero-db per database
    local lease = box.schema.space.create('zdb_lease', { if_not_exists = true })
    lease:create_index('primary', { parts = { 1, 'string' }, if_not_exists = true })
end

-- Copies: a write is acknowledged once `quorum` members hold it. Tarantool 2.6.0's own
-- synchronous replication (is_sync spaces, replication_synchro_quorum) stalls: it drops a
-- replica's acknowledgement that arrives before the leader's own WAL write finished, and the
-- write then fails after replication_synchro_timeout although every replica holds it (fixed
-- in later releases). So the spaces replicate asynchronously and a commit waits here until
-- the replicas report (their acknowledged vclock, box.info.replication[i].downstream) that
-- they hold it; a write that misses its quorum in time is answered with an error.
local fiber = require('fiber')

local function copies(lsn)
    local id = box.info.id
    local n = 1
    for _, r in pairs(box.info.replication) do
        local down = r.downstream
        if r.id ~= id and down ~= nil and down.vclock ~= nil and (down.vclock[id] or 0) >= lsn then
            n = n + 1
        end
    end
    return n
end

local function wait_quorum()
    if quorum <= 1 then return end
    local lsn = box.info.lsn
    local deadline = fiber.clock() + synchro_timeout
    while true do
        local n = copies(lsn)
        if n >= quorum then return end
        if fiber.clock() > deadline then
            -- it is committed here and cannot be taken back (a replica may hold it already):
            -- the client is told it may be there or not, never that it failed
            error(string.format('no quorum: the write reached %d of the %d copies it needs in '
                .. '%gs; its outcome is unknown: the leader keeps it and the replicas get it '
                .. 'when they are back, unless the leader is lost first',
                n, quorum, synchro_timeout), 0)
        end
        fiber.sleep(0.0002)
    end
end

local function commit_quorum()
    box.commit()
    wait_quorum()
end

if not box.info.ro then
    schema()
end

local MAX_ID = 9007199254740991

function zdb_follow(leader)
    local now = box.cfg.replication or {}
    if #now ~= 1 or now[1] ~= uri(leader) then
        box.cfg { replication = { uri(leader) } }
    end
    return true
end

function zdb_upstreams()
    local want, follow = #(box.cfg.replication or {}), 0
    for _, r in pairs(box.info.replication) do
        if r.upstream ~= nil and r.upstream.status == 'follow' then follow = follow + 1 end
    end
    return follow >= want
end

-- the upstreams a member follows tell whether its leader is alive (and where)
function zdb_status()
    local follows = {}
    for _, r in pairs(box.info.replication) do
        local up = r.upstream
        if r.id ~= box.info.id and up ~= nil and up.status == 'follow' and up.peer ~= nil then
            follows[#follows + 1] = (string.gsub(up.peer, '^.*@', ''))
        end
    end
    return { box.info.ro, box.info.vclock, box.info.id, box.info.status, follows }
end

function zdb_promote()
    box.cfg { replication = {}, read_only = false }
    schema()
    return true
end

local function apply(ops)
    local data, keys, chain, ns = box.space.zdb_data, box.space.zdb_keys, box.space.zdb_chain,
        box.space.zdb_ns
    for _, op in ipairs(ops) do
        local kind = op[1]
        if kind == 1 then -- {1, nsid, id, key, value, ts, flags, prev, size}
            data:replace { op[2], op[3], op[4], op[5], op[6], op[7], op[8] }
            if op[7] % 2 == 1 then
                keys:delete { op[2], op[4] }
            else
                keys:replace { op[2], op[4], op[3], op[9], op[6] }
            end
        elseif kind == 2 then -- {2, nsid, file, offset, bytes}
            chain:replace { op[2], op[3], op[4], op[5] }
        elseif kind == 3 then -- {3, nsid, file, size}: cut a chain file back
            for _, t in chain:pairs({ op[2], op[3] }, { iterator = 'EQ' }) do
                if t[3] >= op[4] then
                    chain:delete { t[1], t[2], t[3] }
                elseif t[3] + #t[4] > op[4] then
                    chain:replace { t[1], t[2], t[3], string.sub(t[4], 1, op[4] - t[3]) }
                end
            end
        elseif kind == 4 then -- {4, nsid, disk, index, highest seq id ever written}
            local row = ns.index.nsid:get { op[2] }
            if row ~= nil then
                ns:update({ row[1], row[2] },
                    { { '=', 5, op[3] }, { '=', 6, op[4] }, { '=', 7, op[5] } })
            end
        elseif kind == 5 then -- {5, nsid, settings}
            local row = ns.index.nsid:get { op[2] }
            if row ~= nil then
                ns:update({ row[1], row[2] }, { { '=', 4, op[3] } })
            end
        end
    end
end

local function holds_lease(db, owner)
    local row = box.space.zdb_lease:get { db }
    if row ~= nil and row[2] ~= owner then
        error(string.format("lease lost: another zero-db (%s) serves database '%s' now", row[2], db), 0)
    end
end

-- one zero-db per database: the running one renews its lease; another may take it only once
-- it expired (or, `steal`, from an owner its caller saw die)
function zdb_lease(db, owner, ttl, steal)
    local now = fiber.time()
    local row = box.space.zdb_lease:get { db }
    if row ~= nil and row[2] ~= owner and row[2] ~= steal and row[3] > now then
        return { false, row[2], row[3] - now }
    end
    box.space.zdb_lease:replace { db, owner, now + ttl }
    wait_quorum()
    return { true }
end

-- the lease as it is: its owner and the seconds it has left (negative: expired), or nothing
function zdb_lease_holder(db)
    local row = box.space.zdb_lease:get { db }
    if row == nil then return nil end
    return { row[2], row[3] - fiber.time() }
end

function zdb_unlease(db, owner)
    local row = box.space.zdb_lease:get { db }
    if row ~= nil and row[2] == owner then
        box.space.zdb_lease:delete { db }
        wait_quorum()
    end
    return true
end

function zdb_apply(ops, db, owner)
    if owner ~= nil then holds_lease(db, owner) end
    box.begin()
    local ok, err = pcall(apply, ops)
    if not ok then
        box.rollback()
        error(err)
    end
    commit_quorum()
    return true
end

function zdb_ns_list(db)
    local out = {}
    for _, t in box.space.zdb_ns:pairs({ db }, { iterator = 'EQ' }) do
        out[#out + 1] = t[2]
    end
    return out
end

function zdb_ns_get(db, name)
    return box.space.zdb_ns:get { db, name }
end

function zdb_ns_create(db, name, settings, owner)
    if owner ~= nil then holds_lease(db, owner) end
    if box.space.zdb_ns:get { db, name } ~= nil then
        return nil
    end
    local last = box.space.zdb_ns.index.nsid:max()
    local nsid = last == nil and 1 or last[3] + 1
    box.space.zdb_ns:insert { db, name, nsid, settings, 0, 0, -1 }
    wait_quorum()
    return nsid
end


local function wipe_rows(space, nsid, keyparts)
    while true do
        local batch = space:select({ nsid }, { iterator = 'EQ', limit = 1000 })
        if #batch == 0 then return end
        box.begin()
        for _, t in ipairs(batch) do
            local key = {}
            for i = 1, keyparts do key[i] = t[i] end
            space:delete(key)
        end
        box.commit()
    end
end

function zdb_ns_clear(nsid, chain_too, db, owner)
    if owner ~= nil then holds_lease(db, owner) end
    wipe_rows(box.space.zdb_keys, nsid, 2)
    wipe_rows(box.space.zdb_data, nsid, 2)
    if chain_too then
        wipe_rows(box.space.zdb_chain, nsid, 3)
    end
    wait_quorum()
    return true
end

function zdb_ns_drop(db, name, owner)
    if owner ~= nil then holds_lease(db, owner) end
    local row = box.space.zdb_ns:get { db, name }
    if row == nil then return false end
    zdb_ns_clear(row[3], true)
    box.space.zdb_ns:delete { db, name }
    wait_quorum()
    return true
end

-- up to limit rows of a namespace's zdb_keys from key on, by index: { key, id, size, ts }
local function key_rows(index, nsid, key, iter, limit)
    local out = {}
    for _, t in index:pairs(key, { iterator = iter }) do
        if t[1] ~= nsid then break end
        out[#out + 1] = { t[2], t[3], t[4], t[5] }
        if #out >= limit then break end
    end
    return out
end

-- pages of the key index (after a key), for a store's in-memory mirror
function zdb_keys_page(nsid, after, limit)
    local iter, key = 'GE', { nsid }
    if after ~= nil then iter, key = 'GT', { nsid, after } end
    return key_rows(box.space.zdb_keys.index.primary, nsid, key, iter, limit)
end

function zdb_chain_page(nsid, file, after, limit)
    local out = {}
    local key, iter = { nsid, file, after }, 'GT'
    if after < 0 then key, iter = { nsid, file }, 'GE' end
    for _, t in box.space.zdb_chain:pairs(key, { iterator = iter }) do
        if t[1] ~= nsid or t[2] ~= file then break end
        out[#out + 1] = { t[3], t[4] }
        if #out >= limit then break end
    end
    return out
end

function zdb_last_id(nsid)
    local t = box.space.zdb_data:select({ nsid, MAX_ID }, { iterator = 'LE', limit = 1 })[1]
    if t == nil or t[1] ~= nsid then return -1 end
    return t[2]
end

function zdb_scan(nsid, id, limit, reverse)
    local key, iter
    if reverse then
        key, iter = { nsid, id < 0 and MAX_ID or id }, 'LT'
    elseif id < 0 then
        key, iter = { nsid }, 'GE'
    else
        key, iter = { nsid, id }, 'GT'
    end
    return key_rows(box.space.zdb_keys.index.byid, nsid, key, iter, limit)
end

log.info('zero-db tarantool ready listen=%s ro=%s', listen, tostring(box.info.ro))

function zdb_get(nsid, id)
    local t = box.space.zdb_data:get { nsid, id }
    if t == nil then return nil end
    return { t[3], t[4], t[5], t[6], t[7] }
end
