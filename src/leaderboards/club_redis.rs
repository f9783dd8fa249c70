//! Club boards on Redis (`PACER_REDIS_URL`), shared by every node: per
//! board a hash of each member's totals, one sorted set per sort column, a
//! state key (`loading` while one node rebuilds it, then `ready`) and the
//! athletes set during a rebuild. Every change is one Lua script, so a
//! board never shows half an update. Keys expire 8 days after their week
//! ends: two weeks are kept. A board's keys share one hash tag
//! (`{cb:CLUB:WEEK}`), so they live on one node of a Redis cluster.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;

use super::club_boards::{BoardBackend, BoardChange, BoardEntry, BoardError, BoardKey, BoardPage};
use crate::domain::clubs::{SortColumn, WeekTotals};
use crate::domain::AthleteId;

/// The longest one Redis call may take.
const CALL_DEADLINE: Duration = Duration::from_secs(5);
/// A rebuild claimed by a node that died is given up after this.
const LOADING_TTL_MS: u64 = 120_000;
/// Athletes per script call in a rebuild.
const LOAD_CHUNK: usize = 1_000;
/// Rebuild chunks in flight at once.
const LOAD_IN_FLIGHT: usize = 4;

/// Board changes per Redis pipeline.
const SET_PIPELINE: usize = 4;

const SET_SCRIPT: &str = r"
local st = redis.call('GET', KEYS[1])
if not st then return 0 end
if st == 'loading' then redis.call('SADD', KEYS[3], ARGV[1]) end
local exp = ARGV[9]
-- A key gets its expiry when this write may have created it (a new
-- member); existing keys already carry it, so a change costs 7 writes.
local function fresh(k, added)
  if added == 1 and redis.call('PTTL', k) == -1 then redis.call('PEXPIREAT', k, exp) end
end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[2], ARGV[1])
  for c = 0, 5 do redis.call('ZREM', KEYS[4 + c], ARGV[1]) end
else
  fresh(KEYS[2], redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]))
  for c = 0, 5 do
    local s = ARGV[3 + c]
    if s == '' then redis.call('ZREM', KEYS[4 + c], ARGV[1])
    else fresh(KEYS[4 + c], redis.call('ZADD', KEYS[4 + c], s, ARGV[1])) end
  end
end
if st == 'loading' then fresh(KEYS[3], 1) end
return 1
";

const FILL_SCRIPT: &str = r"
for i = 2, #ARGV, 8 do
  local a = ARGV[i]
  if redis.call('SISMEMBER', KEYS[3], a) == 0 then
    redis.call('HSET', KEYS[2], a, ARGV[i + 1])
    for c = 0, 5 do
      local s = ARGV[i + 2 + c]
      if s == '' then redis.call('ZREM', KEYS[4 + c], a)
      else redis.call('ZADD', KEYS[4 + c], s, a) end
    end
  end
end
for k = 2, 9 do
  if redis.call('EXISTS', KEYS[k]) == 1 then redis.call('PEXPIREAT', KEYS[k], ARGV[1]) end
end
return 1
";

const READY_SCRIPT: &str = r"
redis.call('SET', KEYS[1], 'ready', 'PXAT', ARGV[1])
redis.call('DEL', KEYS[2])
return 1
";

const PAGE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= 'ready' then return false end
local out = {tostring(redis.call('ZCARD', KEYS[3]))}
local first = tonumber(ARGV[1])
local ids = redis.call('ZREVRANGE', KEYS[3], first, first + tonumber(ARGV[2]) - 1, 'WITHSCORES')
for i = 1, #ids, 2 do
  out[#out + 1] = ids[i]
  out[#out + 1] = tostring(redis.call('ZCOUNT', KEYS[3], '(' .. ids[i + 1], '+inf'))
  out[#out + 1] = redis.call('HGET', KEYS[2], ids[i]) or ''
end
if ARGV[3] ~= '' then
  local t = redis.call('HGET', KEYS[2], ARGV[3])
  if t then
    local s = redis.call('ZSCORE', KEYS[3], ARGV[3])
    out[#out + 1] = ARGV[3]
    if s then out[#out + 1] = tostring(redis.call('ZCOUNT', KEYS[3], '(' .. s, '+inf'))
    else out[#out + 1] = '' end
    out[#out + 1] = t
  end
end
return out
";

pub struct RedisBoards {
    /// Writes (the change log's updates, rebuilds).
    conn: ConnectionManager,
    /// Pages: their own connection, so that a read never waits behind a
    /// pipeline of updates on the same socket.
    reads: ConnectionManager,
    prefix: String,
    set: Script,
    fill: Script,
    ready: Script,
    page: Script,
}

fn redis_error(e: impl std::fmt::Display) -> BoardError {
    BoardError::Redis(e.to_string())
}

async fn within<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, BoardError> {
    match tokio::time::timeout(CALL_DEADLINE, call).await {
        Ok(r) => r.map_err(redis_error),
        Err(_) => Err(BoardError::Redis("call ran past its deadline".into())),
    }
}

/// Totals as stored: `activities,distance,moving_time,elevation_gain,longest`.
fn encode(t: &WeekTotals) -> String {
    format!(
        "{},{},{},{},{}",
        t.activities, t.distance, t.moving_time, t.elevation_gain, t.longest
    )
}

fn decode(s: &str) -> Option<WeekTotals> {
    let mut it = s.split(',');
    Some(WeekTotals {
        activities: it.next()?.parse().ok()?,
        distance: it.next()?.parse().ok()?,
        moving_time: it.next()?.parse().ok()?,
        elevation_gain: it.next()?.parse().ok()?,
        longest: it.next()?.parse().ok()?,
    })
}

fn scores(t: &WeekTotals) -> [String; 6] {
    SortColumn::ALL.map(|c| t.score(c).map(|s| s.to_string()).unwrap_or_default())
}

/// Loads `SET_SCRIPT` (its hash is known: calls use `EVALSHA`).
async fn load_set_script(conn: &mut redis::aio::ConnectionManager) -> Result<(), BoardError> {
    let _: String = within(
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(SET_SCRIPT)
            .query_async(conn),
    )
    .await?;
    Ok(())
}

impl RedisBoards {
    pub async fn connect(url: &str, prefix: &str) -> Result<Arc<RedisBoards>, BoardError> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let conn = within(client.get_connection_manager()).await?;
        let reads = within(client.get_connection_manager()).await?;
        // Loaded up front: batches are sent as bare EVALSHAs in a pipeline.
        load_set_script(&mut conn.clone()).await?;
        Ok(Arc::new(RedisBoards {
            conn,
            reads,
            prefix: prefix.to_string(),
            set: Script::new(SET_SCRIPT),
            fill: Script::new(FILL_SCRIPT),
            ready: Script::new(READY_SCRIPT),
            page: Script::new(PAGE_SCRIPT),
        }))
    }

    fn key(&self, k: BoardKey, suffix: &str) -> String {
        format!(
            "{}{{cb:{}:{}}}:{suffix}",
            self.prefix, k.club.0, k.week_start_ms
        )
    }

    /// state, totals, touched, then the six columns.
    fn keys(&self, k: BoardKey) -> [String; 9] {
        [
            self.key(k, "state"),
            self.key(k, "totals"),
            self.key(k, "touched"),
            self.key(k, SortColumn::Distance.as_str()),
            self.key(k, SortColumn::MovingTime.as_str()),
            self.key(k, SortColumn::ElevationGain.as_str()),
            self.key(k, SortColumn::Activities.as_str()),
            self.key(k, SortColumn::Longest.as_str()),
            self.key(k, SortColumn::Pace.as_str()),
        ]
    }

    /// Deletes every key under this prefix (benchmarks and tests).
    pub async fn forget_prefix(&self) -> Result<u64, BoardError> {
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = within(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{}*", self.prefix))
                    .arg("COUNT")
                    .arg(1_000)
                    .query_async(&mut conn),
            )
            .await?;
            if !keys.is_empty() {
                let n: u64 = within(redis::cmd("DEL").arg(keys).query_async(&mut conn)).await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// Redis' own count of the bytes a board takes (`MEMORY USAGE` of each
    /// key): what the benchmark reports per member.
    pub async fn board_bytes(&self, k: BoardKey) -> Result<u64, BoardError> {
        let mut total = 0;
        for key in self.keys(k) {
            let mut conn = self.conn.clone();
            let bytes: Option<u64> = within(
                redis::cmd("MEMORY")
                    .arg("USAGE")
                    .arg(&key)
                    .arg("SAMPLES")
                    .arg(0)
                    .query_async(&mut conn),
            )
            .await?;
            total += bytes.unwrap_or(0);
        }
        Ok(total)
    }

    /// One pipeline of `SET_SCRIPT` calls (loading the script again if
    /// Redis lost it).
    async fn set_pipeline(&self, changes: &[BoardChange]) -> Result<(), BoardError> {
        let pipe = |sha: &str| {
            let mut pipe = redis::pipe();
            for c in changes {
                let cmd = pipe.cmd("EVALSHA").arg(sha).arg(9);
                for k in &self.keys(c.key) {
                    cmd.arg(k);
                }
                cmd.arg(c.athlete.0);
                match &c.totals {
                    Some(t) => {
                        cmd.arg(encode(t));
                        for s in scores(t) {
                            cmd.arg(s);
                        }
                    }
                    None => {
                        for _ in 0..7 {
                            cmd.arg("");
                        }
                    }
                }
                cmd.arg(c.expires_ms).ignore();
            }
            pipe
        };
        let mut conn = self.conn.clone();
        let sha = self.set.get_hash();
        let first = tokio::time::timeout(CALL_DEADLINE, pipe(sha).query_async::<()>(&mut conn))
            .await
            .map_err(|_| BoardError::Redis("call ran past its deadline".into()))?;
        match first {
            Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
                // Redis restarted or flushed its scripts: load it again.
                load_set_script(&mut conn).await?;
                within(pipe(sha).query_async::<()>(&mut conn)).await
            }
            other => other.map_err(redis_error),
        }
    }
}

#[async_trait]
impl BoardBackend for RedisBoards {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn begin_load(&self, key: BoardKey, _expires_ms: i64) -> Result<bool, BoardError> {
        let mut conn = self.conn.clone();
        let set: Option<String> = within(
            redis::cmd("SET")
                .arg(self.key(key, "state"))
                .arg("loading")
                .arg("NX")
                .arg("PX")
                .arg(LOADING_TTL_MS)
                .query_async(&mut conn),
        )
        .await?;
        Ok(set.is_some())
    }

    async fn finish_load(
        &self,
        key: BoardKey,
        rows: &[(AthleteId, WeekTotals)],
        expires_ms: i64,
    ) -> Result<(), BoardError> {
        let keys = self.keys(key);
        // Several chunks in flight on the multiplexed connection, so that
        // Redis is not idle while the next chunk is encoded and sent.
        for group in rows.chunks(LOAD_CHUNK * LOAD_IN_FLIGHT) {
            let mut calls = Vec::with_capacity(LOAD_IN_FLIGHT);
            for chunk in group.chunks(LOAD_CHUNK) {
                let mut call = self.fill.prepare_invoke();
                for k in &keys {
                    call.key(k);
                }
                call.arg(expires_ms);
                for (athlete, totals) in chunk {
                    call.arg(athlete.0).arg(encode(totals));
                    for s in scores(totals) {
                        call.arg(s);
                    }
                }
                calls.push(call);
            }
            let mut sent = Vec::with_capacity(calls.len());
            for call in &calls {
                let mut conn = self.conn.clone();
                sent.push(async move { within(call.invoke_async::<i64>(&mut conn)).await });
            }
            futures_util::future::try_join_all(sent).await?;
        }
        let mut conn = self.conn.clone();
        let _: i64 = within(
            self.ready
                .key(&keys[0])
                .key(&keys[2])
                .arg(expires_ms)
                .invoke_async(&mut conn),
        )
        .await?;
        Ok(())
    }

    async fn abort_load(&self, key: BoardKey) -> Result<(), BoardError> {
        let mut conn = self.conn.clone();
        let _: i64 = within(
            redis::cmd("DEL")
                .arg(self.key(key, "state"))
                .query_async(&mut conn),
        )
        .await?;
        Ok(())
    }

    async fn set(
        &self,
        key: BoardKey,
        athlete: AthleteId,
        totals: Option<WeekTotals>,
        expires_ms: i64,
    ) -> Result<(), BoardError> {
        self.set_many(&[BoardChange {
            key,
            athlete,
            totals,
            expires_ms,
        }])
        .await
    }

    async fn set_many(&self, changes: &[BoardChange]) -> Result<(), BoardError> {
        // Small pipelines, one after the other: Redis runs a connection's
        // buffered scripts back to back, so a page read waits behind at
        // most one short pipeline per writer, not a whole batch.
        for chunk in changes.chunks(SET_PIPELINE) {
            self.set_pipeline(chunk).await?;
        }
        Ok(())
    }

    async fn page(
        &self,
        key: BoardKey,
        column: SortColumn,
        offset: u64,
        limit: u64,
        me: Option<AthleteId>,
    ) -> Result<Option<BoardPage>, BoardError> {
        let mut conn = self.reads.clone();
        let reply: Option<Vec<String>> = within(
            self.page
                .key(self.key(key, "state"))
                .key(self.key(key, "totals"))
                .key(self.key(key, column.as_str()))
                .arg(offset)
                .arg(limit.max(1))
                .arg(me.map(|a| a.0.to_string()).unwrap_or_default())
                .invoke_async(&mut conn),
        )
        .await?;
        let Some(reply) = reply else {
            return Ok(None);
        };
        let corrupt = || BoardError::Redis("unexpected board reply".into());
        let entry_count: u64 = reply
            .first()
            .and_then(|s| s.parse().ok())
            .ok_or_else(corrupt)?;
        let mut lines = Vec::new();
        for triple in reply[1..].chunks(3) {
            let [athlete, better, totals] = triple else {
                return Err(corrupt());
            };
            lines.push(BoardEntry {
                athlete: AthleteId(athlete.parse().map_err(|_| corrupt())?),
                rank: if better.is_empty() {
                    None
                } else {
                    Some(better.parse::<u64>().map_err(|_| corrupt())? + 1)
                },
                totals: decode(totals).unwrap_or_default(),
            });
        }
        let shown = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        let me_line = match me {
            Some(_) if lines.len() > shown.min(entry_count.saturating_sub(offset) as usize) => {
                lines.pop()
            }
            _ => None,
        };
        Ok(Some(BoardPage {
            entry_count,
            entries: lines,
            me: me_line,
        }))
    }

    async fn evict_before(&self, _before_ms: i64) {
        // Redis expires each board's keys itself.
    }
}
