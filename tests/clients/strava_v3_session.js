#!/usr/bin/env node
// Drives a whole Strava API session with the real, unmodified strava-v3
// against a Pacer server and prints what it observed as one JSON object.
//
// Only the base URL is changed: strava-v3 sends every request through one
// axios instance, with https://www.strava.com/api/v3/ as base URL and
// absolute https://www.strava.com/oauth/... URLs; an interceptor on that
// instance sends both to the server under test. Assertions live in
// tests/server/strava_clients.rs.
//
// Usage: node strava_v3_session.js BASE_URL CLIENT_ID CLIENT_SECRET CODE FIT_PATH
//        [--segment-id ID] [--club-id ID] [--per-page N]
'use strict'

const crypto = require('crypto')
const strava = require('strava-v3')
const { axiosInstance } = require('strava-v3/axiosUtility')
const version = require('strava-v3/package.json').version

const STRAVA_ORIGIN = 'https://www.strava.com'
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function parseArgs (argv) {
  const pos = []
  const opt = { perPage: 2 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--segment-id') opt.segmentId = argv[++i]
    else if (a === '--club-id') opt.clubId = argv[++i]
    else if (a === '--per-page') opt.perPage = Number(argv[++i])
    else pos.push(a)
  }
  if (pos.length !== 5) {
    console.error('usage: strava_v3_session.js BASE_URL CLIENT_ID CLIENT_SECRET CODE FIT_PATH')
    process.exit(2)
  }
  ;[opt.baseUrl, opt.clientId, opt.clientSecret, opt.code, opt.fitPath] = pos
  opt.baseUrl = opt.baseUrl.replace(/\/+$/, '')
  return opt
}

// Tokens never reach the output; a short hash lets the test compare them.
const fingerprint = (t) => t == null ? null : crypto.createHash('sha256').update(String(t)).digest('hex').slice(0, 16)
// json-bigint may hand back BigNumber objects for 16+ digit ids.
const plain = (v) => (v != null && typeof v === 'object' && typeof v.toFixed === 'function') ? Number(v.toString()) : v

async function main () {
  const opt = parseArgs(process.argv.slice(2))

  // The one change a strava-v3 user makes: send Strava's URLs to Pacer.
  axiosInstance.interceptors.request.use((config) => {
    config.baseURL = opt.baseUrl + '/api/v3/'
    if (config.url && config.url.startsWith(STRAVA_ORIGIN)) {
      config.url = opt.baseUrl + config.url.slice(STRAVA_ORIGIN.length)
    }
    return config
  })

  strava.config({ client_id: opt.clientId, client_secret: opt.clientSecret, redirect_uri: 'http://127.0.0.1/cb' })

  const steps = {}
  const state = {}
  async function run (name, fn) {
    try {
      const out = await fn()
      steps[name] = { status: 'ok', ...(out || {}) }
      return out
    } catch (e) {
      const status = e && e.statusCode != null ? e.statusCode : null
      steps[name] = {
        status: status === 404 ? 'missing' : 'error',
        http_status: status,
        error: String(e && e.message).slice(0, 600),
        body: e && e.data !== undefined ? JSON.stringify(e.data).slice(0, 600) : undefined,
        trace: String(e && e.stack).slice(0, 1500)
      }
      return null
    }
  }
  const done = () => console.log(JSON.stringify({ client: 'strava-v3 ' + version, steps }))

  const ex = await run('token_exchange', async () => {
    const t = await strava.oauth.getToken(opt.code)
    state.access = t.access_token
    state.refresh = t.refresh_token
    return {
      token_type: t.token_type,
      expires_at: t.expires_at,
      expires_in: t.expires_in,
      athlete_id: t.athlete ? plain(t.athlete.id) : null,
      access_token_fp: fingerprint(t.access_token),
      refresh_token_fp: fingerprint(t.refresh_token)
    }
  })
  if (!ex) return done()

  let client = new strava.client(state.access) // eslint-disable-line new-cap

  await run('athlete', async () => {
    const a = await client.athlete.get({})
    return { id: plain(a.id), firstname: a.firstname, lastname: a.lastname, sex: a.sex, city: a.city, country: a.country }
  })

  await run('activities', async () => {
    const ids = []
    for (let page = 1; page <= 100; page++) {
      const batch = await client.athlete.listActivities({ page, per_page: opt.perPage })
      ids.push(...batch.map((a) => plain(a.id)))
      if (batch.length < opt.perPage) break
    }
    return { count: ids.length, ids, per_page: opt.perPage, distinct: new Set(ids).size }
  })

  await run('create_activity', async () => {
    const a = await client.activities.create({
      name: 'strava-v3 manual',
      sport_type: 'Ride',
      start_date_local: '2024-03-02T09:00:00Z',
      elapsed_time: 3600,
      distance: 20000,
      description: 'created by strava-v3'
    })
    state.createdId = plain(a.id)
    return { id: plain(a.id), name: a.name, distance: a.distance, elapsed_time: a.elapsed_time, sport_type: a.sport_type, manual: a.manual }
  })

  const up = await run('upload', async () => {
    const first = await client.uploads.post({ file: opt.fitPath, data_type: 'fit', name: 'strava-v3 upload', external_id: 'strava-v3-fit-1' })
    const upload = await client.uploads._check({ id: plain(first.id), maxChecks: 60 })
    if (upload.error) throw new Error('upload failed: ' + upload.error)
    const act = await client.activities.get({ id: plain(upload.activity_id) })
    state.uploadedId = plain(act.id)
    const efforts = act.segment_efforts || []
    return {
      first: { upload_id: plain(first.id), status: first.status, activity_id: plain(first.activity_id) },
      upload_id: plain(upload.id),
      final_status: upload.status,
      activity_id: plain(act.id),
      name: act.name,
      distance: act.distance,
      moving_time: act.moving_time,
      elapsed_time: act.elapsed_time,
      sport_type: act.sport_type,
      start_date: act.start_date,
      start_latlng: act.start_latlng,
      has_map: !!(act.map && (act.map.summary_polyline || act.map.polyline)),
      segment_effort_ids: efforts.map((e) => plain(e.id)),
      segment_ids: efforts.filter((e) => e.segment).map((e) => plain(e.segment.id))
    }
  })

  if (state.uploadedId != null) {
    await run('streams', async () => {
      const byType = await client.streams.activity({ id: state.uploadedId, keys: ['time', 'latlng', 'distance', 'altitude', 'heartrate'], key_by_type: true })
      const list = await client.streams.activity({ id: state.uploadedId, keys: ['time', 'distance'] })
      const types = {}
      for (const [k, v] of Object.entries(byType)) types[k] = (v.data || []).length
      return {
        types,
        first_latlng: byType.latlng && byType.latlng.data.length ? byType.latlng.data[0] : null,
        last_distance: byType.distance && byType.distance.data.length ? byType.distance.data[byType.distance.data.length - 1] : null,
        list_form: Array.isArray(list) ? list.map((s) => [s.type, (s.data || []).length]) : null
      }
    })
  }

  let segmentId = opt.segmentId != null ? opt.segmentId : (up && up.segment_ids.length ? up.segment_ids[0] : null)
  if (segmentId != null) {
    await run('segment', async () => {
      const s = await client.segments.get({ id: segmentId })
      return { id: plain(s.id), name: s.name, distance: s.distance, start_latlng: s.start_latlng }
    })
    await run('segment_efforts', async () => {
      // Matching runs in the background after the upload: give it time.
      const started = Date.now()
      let effs
      for (;;) {
        effs = await client.segments.listEfforts({ id: segmentId, per_page: 200 })
        if (effs.length || Date.now() - started > 20000) break
        await sleep(500)
      }
      const out = {
        count: effs.length,
        ids: effs.map((e) => plain(e.id)),
        waited_s: (Date.now() - started) / 1000,
        activity_ids: effs.map((e) => e.activity ? plain(e.activity.id) : null),
        elapsed_times: effs.map((e) => e.elapsed_time)
      }
      if (effs.length) {
        const one = await client.segmentEfforts.get({ id: plain(effs[0].id) })
        out.first = { id: plain(one.id), elapsed_time: one.elapsed_time, activity_id: one.activity ? plain(one.activity.id) : null }
      }
      return out
    })
    await run('leaderboard', async () => {
      // strava-v3 has no leaderboard method since Strava removed the endpoint
      // (2020); the library's own HTTP client still reaches it.
      const started = Date.now()
      let lb, entries
      for (;;) {
        lb = await strava.defaultHttpClient.getEndpoint('segments/' + segmentId + '/leaderboard', { access_token: state.access })
        entries = lb.entries || []
        if (entries.length || Date.now() - started > 20000) break
        await sleep(500)
      }
      return {
        entry_count: lb.entry_count,
        entries: entries.length,
        athlete_names: entries.map((e) => e.athlete_name),
        ranks: entries.map((e) => e.rank),
        elapsed_times: entries.map((e) => e.elapsed_time)
      }
    })
  } else {
    steps.segment = { status: 'missing', error: 'no segment id given or found' }
  }

  await run('clubs', async () => {
    const cs = await client.athlete.listClubs({ page: 1, per_page: 200 })
    const out = { count: cs.length, ids: cs.map((c) => plain(c.id)), names: cs.map((c) => c.name) }
    const clubId = opt.clubId != null ? opt.clubId : (cs.length ? plain(cs[0].id) : null)
    if (clubId != null) {
      const c = await client.clubs.get({ id: clubId })
      const members = await client.clubs.listMembers({ id: clubId, per_page: 200 })
      const acts = await client.clubs.listActivities({ id: clubId, per_page: 200 })
      out.club = {
        id: plain(c.id),
        name: c.name,
        member_count: c.member_count,
        members: members.length,
        member_names: members.map((m) => m.firstname + ' ' + m.lastname),
        activities: acts.length
      }
    }
    return out
  })

  const rl = strava.rateLimiting
  steps.rate_limits = {
    status: rl.shortTermLimit > 0 && rl.readShortTermLimit > 0 ? 'ok' : 'error',
    short_limit: rl.shortTermLimit,
    long_limit: rl.longTermLimit,
    short_usage: rl.shortTermUsage,
    read_short_limit: rl.readShortTermLimit,
    read_short_usage: rl.readShortTermUsage
  }

  await run('refresh', async () => {
    const oldAccess = state.access
    const t = await strava.oauth.refreshToken(state.refresh)
    const out = {
      access_token_fp: fingerprint(t.access_token),
      refresh_token_fp: fingerprint(t.refresh_token),
      access_changed: t.access_token !== oldAccess,
      refresh_changed: t.refresh_token !== state.refresh,
      expires_at: t.expires_at
    }
    state.access = t.access_token
    client = new strava.client(state.access) // eslint-disable-line new-cap
    out.athlete_after = plain((await client.athlete.get({})).id)
    try {
      await new strava.client(oldAccess).athlete.get({}) // eslint-disable-line new-cap
      out.old_access_status = 200
    } catch (e) {
      out.old_access_status = e.statusCode != null ? e.statusCode : null
    }
    return out
  })

  await run('deauthorize', async () => {
    const r = await strava.oauth.deauthorize({ access_token: state.access })
    const out = { response_fp: r && r.access_token ? fingerprint(r.access_token) : null, response_message: r && r.message ? r.message : null }
    try {
      await client.athlete.get({})
      out.after_status = 200
    } catch (e) {
      out.after_status = e.statusCode != null ? e.statusCode : null
    }
    return out
  })

  done()
}

main().catch((e) => {
  console.log(JSON.stringify({ client: 'strava-v3', fatal: String(e && e.stack) }))
  process.exit(1)
})
