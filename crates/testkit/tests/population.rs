//! The fleet's bookkeeping at population scale, checked for what it must keep exact: lists
//! walked by cursor see each row once while rows arrive, inbox pages by cursor are the pages
//! by number, the status counts kept by the transitions equal counting through concurrent
//! moves, kills and re-migrations, each table is pruned by its rule and nothing else, and the
//! stuck list holds runs in progress only. (Their cost at millions: `BENCH_ONLY=scale`.)

use conversations_sim::model::{generate, GenOptions};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use migrator_core::ids::AccountId;
use migrator_store::queries::operators::retention::{self, Table};
use migrator_store::queries::workflow::verifications;
use migrator_store::schema::{accounts, migration_runs};
use migrator_testkit::process::spawn_worker;
use migrator_testkit::{EnvOptions, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

/// Every row of an admin list, walked by its `next` cursors: (rows' `key` values, pages).
async fn walk(env: &TestEnv, path: &str, field: &str, key: &str) -> (Vec<String>, usize) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let (mut seen, mut pages, mut after) = (Vec::new(), 0, None::<String>);
    loop {
        let url = match &after {
            Some(c) => format!("{path}{sep}per_page=7&after={c}"),
            None => format!("{path}{sep}per_page=7"),
        };
        let (s, v) = env.admin(Method::GET, &url, None).await;
        assert_eq!(s, StatusCode::OK, "{url}: {v}");
        pages += 1;
        let rows = v[field].as_array().expect("rows");
        seen.extend(rows.iter().map(|r| r[key].to_string()));
        match v["next"].as_str() {
            Some(c) => {
                assert_eq!(rows.len(), 7, "a page before the last is full");
                after = Some(c.to_string());
            }
            None => return (seen, pages),
        }
    }
}

fn once_each(seen: &[String]) -> HashSet<String> {
    let set: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(set.len(), seen.len(), "a row was listed twice: {seen:?}");
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_lists_walked_by_cursor_list_every_row_once_while_accounts_arrive() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    // given 60 accounts
    for i in 0..60 {
        env.create_account(&format!("walk-{i:03}"), "Walk").await;
    }
    // when the list is walked by cursor while 40 more arrive
    let arriving = async {
        for i in 60..100 {
            env.create_account(&format!("walk-{i:03}"), "Walk").await;
        }
    };
    let ((seen, pages), ()) = tokio::join!(
        walk(
            &env,
            "/admin/migrations?status=not-started",
            "accounts",
            "shopper_id"
        ),
        arriving
    );
    // then each of the first 60 is listed once, and nothing twice
    let seen = once_each(&seen);
    for i in 0..60 {
        assert!(
            seen.contains(&format!("\"walk-{i:03}\"")),
            "walk-{i:03} missed"
        );
    }
    assert!(pages >= 9, "{pages} pages of 7");
    // and at rest, cursor pages are the numbered pages, and the total is exact (the counts)
    let (s, p2) = env
        .admin(Method::GET, "/admin/migrations?per_page=7&page=2", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (p2["total_count"].as_i64(), p2["total_exact"].as_bool()),
        (Some(100), Some(true))
    );
    let (_, p1) = env
        .admin(Method::GET, "/admin/migrations?per_page=7", None)
        .await;
    let next = p1["next"].as_str().unwrap();
    let (_, by_cursor) = env
        .admin(
            Method::GET,
            &format!("/admin/migrations?per_page=7&after={next}"),
            None,
        )
        .await;
    assert_eq!(by_cursor["accounts"], p2["accounts"]);
    assert_eq!(
        by_cursor["page"], 0,
        "a page asked by cursor alone has no number"
    );
    // the audit log (100 creations) walks the same way, newest first
    let (entries, _) = walk(&env, "/admin/audit-log", "entries", "id").await;
    assert_eq!(once_each(&entries).len(), 100);

    // a deep page is refused with the way on; a cursor is the list's own
    let (s, v) = env
        .admin(Method::GET, "/admin/migrations?per_page=50&page=22", None)
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_page"))
    );
    let (_, audit) = env
        .admin(Method::GET, "/admin/audit-log?per_page=1", None)
        .await;
    let foreign = audit["next"].as_str().unwrap();
    for bad in ["garbage", foreign, &"A".repeat(3000)] {
        let (s, v) = env
            .admin(Method::GET, &format!("/admin/migrations?after={bad}"), None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"], "invalid_cursor", "{v}");
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inbox_pages_by_cursor_are_the_pages_by_number_and_new_conversations_do_not_shift_them() {
    let env = TestEnv::start().await;
    let spec = generate("deep", &GenOptions::new(45, 3, 5));
    env.add_c1(&spec).await;
    env.post("deep", "/migrate", None).await;
    env.wait_status("deep", "completed", T).await;
    // given the inbox walked by page number at rest
    let mut by_number = Vec::new();
    for page in 1..=5 {
        let (_, v) = env
            .get("deep", &format!("/conversations?per_page=10&page={page}"))
            .await;
        assert_eq!(
            (v["total_count"].as_i64(), v["total_exact"].as_bool()),
            (Some(45), Some(true))
        );
        by_number.extend(
            v["conversations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].clone()),
        );
    }
    assert_eq!(by_number.len(), 45);
    // when it is walked by cursor while new web chat conversations arrive (at its top)
    let mut by_cursor = Vec::new();
    let mut after: Option<String> = None;
    for i in 0.. {
        let path = match &after {
            Some(c) => format!("/conversations?per_page=10&after={c}"),
            None => "/conversations?per_page=10".to_string(),
        };
        let (s, v) = env.get("deep", &path).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let rows = v["conversations"].as_array().unwrap();
        // the first page was read before any arrived
        by_cursor.extend(rows.iter().map(|c| c["id"].clone()));
        let body = json!({"contact": {"name": format!("new {i}")}, "body": "hello"});
        let (s, _) = env.post("deep", "/webchat/conversations", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED);
        match v["next"].as_str() {
            Some(c) => after = Some(c.to_string()),
            None => break,
        }
    }
    // then it lists the same conversations in the same order, none twice, none missed
    assert_eq!(by_cursor, by_number);

    // and a thread whose messages tie on sent_at, some with the source's sort key and some
    // without, walks in the list's order by cursor and by number alike
    let (_, top) = env.get("deep", "/conversations?per_page=1").await;
    let conv = top["conversations"][0]["id"].as_str().unwrap().to_string();
    let mut db = env.db().await;
    diesel::sql_query(
        "INSERT INTO messages (id, account_id, conversation_id, source_sort, direction, sent_at) \
         SELECT gen_random_uuid(), c.account_id, c.id, \
                CASE WHEN g % 3 = 0 THEN NULL ELSE 'k' || (g % 4) END, 'inbound', \
                timestamptz '2024-01-01' + (g % 2) * interval '1 microsecond' \
         FROM conversations c, generate_series(1, 23) g WHERE c.id = $1::uuid",
    )
    .bind::<diesel::sql_types::Text, _>(&conv)
    .execute(&mut db)
    .await
    .unwrap();
    diesel::sql_query(
        "UPDATE conversations SET message_count = message_count + 23 WHERE id = $1::uuid",
    )
    .bind::<diesel::sql_types::Text, _>(&conv)
    .execute(&mut db)
    .await
    .unwrap();
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let truth: Vec<String> = diesel::sql_query(
        "SELECT id::text AS id FROM messages WHERE conversation_id = $1::uuid \
         ORDER BY sent_at, source_sort, id",
    )
    .bind::<diesel::sql_types::Text, _>(&conv)
    .load::<Id>(&mut db)
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.id)
    .collect();
    let (mut cursor_walk, mut number_walk, mut after) = (Vec::new(), Vec::new(), None::<String>);
    for page in 1.. {
        let base = format!("/conversations/{conv}/messages?per_page=2");
        let (_, n) = env.get("deep", &format!("{base}&page={page}")).await;
        let path = match &after {
            Some(c) => format!("{base}&after={c}"),
            None => base.clone(),
        };
        let (_, c) = env.get("deep", &path).await;
        assert_eq!(c["total_count"].as_i64(), Some(truth.len() as i64));
        number_walk.extend(
            n["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string()),
        );
        cursor_walk.extend(
            c["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string()),
        );
        match c["next"].as_str() {
            Some(x) => after = Some(x.to_string()),
            None => break,
        }
    }
    assert_eq!(cursor_walk, truth);
    assert_eq!(number_walk, truth);
    env.shutdown().await;
}

/// Accounts by status, counted, and as the summary keeps them — in one statement, so both
/// are read from the same snapshot while workers go on moving accounts.
async fn counted_and_kept(env: &TestEnv) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::Text)]
        source: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut db = env.db().await;
    let rows: Vec<N> = diesel::sql_query(
        "SELECT 'counted' AS source, migration_status AS status, count(*) AS n \
         FROM accounts GROUP BY 2 \
         UNION ALL \
         SELECT 'kept', status, sum(n)::bigint FROM account_counts GROUP BY 2 \
         HAVING sum(n) <> 0",
    )
    .load(&mut db)
    .await
    .unwrap();
    let (counted, kept): (Vec<N>, Vec<N>) = rows.into_iter().partition(|r| r.source == "counted");
    let map = |v: Vec<N>| v.into_iter().map(|r| (r.status, r.n)).collect();
    (map(counted), map(kept))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_counts_kept_by_the_transitions_equal_counting_through_kills_and_remigrations() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |s| {
        s.worker.lease_secs = 5;
    })
    .await;
    let specs: Vec<_> = (0..10)
        .map(|i| generate(&format!("count-{i}"), &GenOptions::new(30, 20, i)))
        .collect();
    for s in &specs {
        env.add_c1(s).await;
    }
    let mut w1 = spawn_worker(&env.settings);
    let _w2 = spawn_worker(&env.settings);
    // given migrations moving on two workers, accounts arriving, re-migrations midway
    for s in &specs {
        env.post(&s.shopper_id, "/migrate", None).await;
    }
    for i in 0..20 {
        env.create_account(&format!("idle-{i}"), "Idle").await;
    }
    for s in specs.iter().take(3) {
        let path = format!("/admin/accounts/{}/remigrate", s.shopper_id);
        let (st, v) = env.admin(Method::POST, &path, None).await;
        assert!(st.is_success(), "{v}");
    }
    // when a worker is killed mid-way (its transactions roll back, the counts with them)
    tokio::time::sleep(Duration::from_millis(300)).await;
    migrator_testkit::process::kill9(&mut w1);
    let (counted, kept) = counted_and_kept(&env).await;
    assert_eq!(kept, counted, "mid-flight");
    let _w3 = spawn_worker(&env.settings);
    for s in &specs {
        env.wait_admin_status(&s.shopper_id, "completed", T).await;
    }
    // then the summary is counting's, and the counts endpoint reads it
    let (counted, kept) = counted_and_kept(&env).await;
    assert_eq!(kept, counted);
    assert_eq!(counted.get("completed"), Some(&10));
    let (_, c) = env.admin(Method::GET, "/admin/counts", None).await;
    let of = |status: &str| {
        c["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["status"] == status)
            .map(|s| s["count"].clone())
    };
    assert_eq!(of("completed"), Some(json!(10)), "{c}");
    assert_eq!(of("not-started"), Some(json!(20)), "{c}");
    // and each inbox's total is its conversations, re-migrated ones included
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Pair {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        kept: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        counted: i64,
    }
    let pairs: Vec<Pair> = diesel::sql_query(
        "SELECT coalesce(k.n, 0)::bigint AS kept, count(c.id)::bigint AS counted \
         FROM accounts a LEFT JOIN conversation_counts k ON k.account_id = a.id \
         LEFT JOIN conversations c ON c.account_id = a.id GROUP BY a.id, k.n",
    )
    .load(&mut env.db().await)
    .await
    .unwrap();
    assert_eq!(pairs.len(), 30);
    for p in &pairs {
        assert_eq!(p.kept, p.counted, "{pairs:?}");
    }
    assert!(pairs.iter().any(|p| p.counted == 30));
    env.shutdown().await;
}

/// Sets a column of every row of `table` matching `filter` (SQL) `age` in the past.
async fn age(db: &mut diesel_async::AsyncPgConnection, table: &str, column: &str, filter: &str) {
    diesel::sql_query(format!(
        "UPDATE {table} SET {column} = now() - interval '2 days' WHERE {filter}"
    ))
    .execute(db)
    .await
    .unwrap();
}

/// Rows of `from` (a table, with a condition if any).
async fn count(db: &mut diesel_async::AsyncPgConnection, from: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT count(*) AS n FROM {from}"))
        .get_result::<N>(db)
        .await
        .unwrap()
        .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_table_is_pruned_by_its_rule_and_nothing_else() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    env.create_account("prune-1", "Prune").await;
    env.create_account("prune-2", "Prune").await;
    // a run superseded by a re-migration, and the run in force
    env.post("prune-1", "/migrate", None).await;
    let (s, _) = env
        .admin(Method::POST, "/admin/accounts/prune-1/remigrate", None)
        .await;
    assert!(s.is_success());
    let mut db = env.db().await;
    let account: AccountId = accounts::table
        .filter(accounts::shopper_id.eq("prune-1"))
        .select(accounts::id)
        .first(&mut db)
        .await
        .unwrap();
    // two finished verifications of the account: the older superseded by the newer
    for _ in 0..2 {
        verifications::request(&mut db, account, None, "auto", false)
            .await
            .unwrap();
        diesel::sql_query(
            "UPDATE verifications SET status = 'done', result = 'match', finished_at = now() \
             WHERE status = 'pending'",
        )
        .execute(&mut db)
        .await
        .unwrap();
    }
    diesel::sql_query(
        "INSERT INTO rejects (account_id, source_table, source_key, reason, raw) \
         SELECT a.id, 'messages', 'k' || g, 'bad', '{}' FROM accounts a, generate_series(1, 3) g",
    )
    .execute(&mut db)
    .await
    .unwrap();
    diesel::sql_query(
        "INSERT INTO dead_letters (account_id, phase, hop, error) \
         SELECT id, 'channels', '{}', 'gave up' FROM accounts",
    )
    .execute(&mut db)
    .await
    .unwrap();
    // given every row two days old but one of each kind (prune-2's, the newest outbox row)
    let old = "account_id = (SELECT id FROM accounts WHERE shopper_id = 'prune-1')";
    diesel::sql_query("UPDATE outbox SET published_at = now()")
        .execute(&mut db)
        .await
        .unwrap();
    age(
        &mut db,
        "outbox",
        "published_at",
        "id < (SELECT max(id) FROM outbox)",
    )
    .await;
    age(&mut db, "dead_letters", "created_at", old).await;
    age(&mut db, "audit_log", "created_at", "target = 'prune-1'").await;
    age(&mut db, "verifications", "finished_at", old).await;
    age(&mut db, "rejects", "created_at", old).await;
    age(
        &mut db,
        "migration_runs",
        "finished_at",
        "finished_at IS NOT NULL",
    )
    .await;
    // the program's completions: one a day old (pruned), one of now (kept)
    diesel::sql_query(
        "INSERT INTO completions (minute, lane, shard, n) VALUES \
         (date_trunc('minute', now() - interval '3 days'), 'app', 0, 5), \
         (date_trunc('minute', now()), 'campaign', 7, 1) \
         ON CONFLICT DO NOTHING",
    )
    .execute(&mut db)
    .await
    .unwrap();
    // the console's sessions: one expired two days ago (pruned), one live (kept)
    diesel::sql_query(
        "INSERT INTO console_sessions (secret_sha256, operator, csrf_token, expires_at, \
         absolute_until) VALUES \
         ('\\x01', 'gone', 't', now() - interval '2 days', now() - interval '2 days'), \
         ('\\x02', 'here', 't', now() + interval '1 hour', now() + interval '1 hour')",
    )
    .execute(&mut db)
    .await
    .unwrap();
    // file removals: one given up two days ago (pruned), one given up now and one still due
    // (kept)
    diesel::sql_query(
        "INSERT INTO blob_removals (prefix, reason, requested_at, next_at) VALUES \
         ('a/old', 'remigrate', now() - interval '2 days', NULL), \
         ('a/new', 'remigrate', now(), NULL), \
         ('a/due', 'remigrate', now() - interval '2 days', now())",
    )
    .execute(&mut db)
    .await
    .unwrap();
    // the fleet's minutes: one of two days ago (pruned), one now; burn-down samples of two
    // days ago: one between hours (pruned), one on the hour (kept), and one now
    diesel::sql_query(
        "INSERT INTO fleet_minutes (series, minute, shard, n) VALUES \
         ('hops_ok', date_trunc('minute', now() - interval '2 days'), 0, 1), \
         ('hops_ok', date_trunc('minute', now()), 0, 1)",
    )
    .execute(&mut db)
    .await
    .unwrap();
    diesel::sql_query(
        "INSERT INTO burn_down (scope_id, at, accounts, remaining) VALUES \
         ('00000000-0000-0000-0000-000000000000', \
          date_trunc('hour', now() - interval '2 days') + interval '5 minutes', 2, 2), \
         ('00000000-0000-0000-0000-000000000000', date_trunc('hour', now() - interval '2 days'), 2, 2), \
         ('00000000-0000-0000-0000-000000000000', now(), 2, 1)",
    )
    .execute(&mut db)
    .await
    .unwrap();
    let completions = count(&mut db, "completions").await;
    let runs = count(&mut db, "migration_runs").await;
    assert_eq!(runs, 2);
    let outbox = count(&mut db, "outbox").await;
    let audit = count(&mut db, "audit_log").await;

    // when every table is pruned of what is a day old
    let mut pruned = BTreeMap::new();
    for t in Table::ALL {
        let n = retention::prune(&mut db, t, Duration::from_secs(86_400), 1000)
            .await
            .unwrap();
        pruned.insert(t.as_str(), n);
        let again = retention::prune(&mut db, t, Duration::from_secs(86_400), 1000)
            .await
            .unwrap();
        assert_eq!(again, 0, "{} pruned twice", t.as_str());
    }
    // then exactly the old rows the rule lets go are gone
    let want: BTreeMap<&str, usize> = [
        ("outbox", outbox as usize - 1),
        ("dead_letters", 1),
        (
            "audit_log",
            audit as usize - count(&mut db, "audit_log").await as usize,
        ),
        ("verifications", 1),
        ("rejects", 3),
        ("migration_runs", 1),
        ("completions", 1),
        ("console_sessions", 1),
        ("blob_removals", 1),
        ("fleet_minutes", 1),
        ("burn_down", 1),
        ("campaign_events", 0),
    ]
    .into();
    assert_eq!(pruned, want);
    assert!(want["audit_log"] >= 2, "prune-1's creation and remigration");
    // the account's newest verification and its run in force stay, whatever their age
    let kept: Vec<(AccountId, bool)> = migration_runs::table
        .select((migration_runs::account_id, migration_runs::superseded))
        .load(&mut db)
        .await
        .unwrap();
    assert_eq!(kept, [(account, false)]);
    assert_eq!(count(&mut db, "verifications").await, 1);
    assert_eq!(count(&mut db, "rejects").await, 3);
    assert_eq!(count(&mut db, "dead_letters").await, 1);
    let (_, c) = env.admin(Method::GET, "/admin/counts", None).await;
    assert_eq!(c["dead_letters"], 1, "kept through the prune: {c}");
    assert_eq!(count(&mut db, "outbox").await, 1);
    assert_eq!(count(&mut db, "completions").await, completions - 1);
    assert_eq!(count(&mut db, "console_sessions").await, 1);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stuck_list_holds_runs_in_progress_only() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    // given an account at rest, one migrating (no worker takes it), one cancelled
    for s in ["rest", "moving", "stopped"] {
        env.create_account(s, "Stuck").await;
    }
    env.post("moving", "/migrate", None).await;
    env.post("stopped", "/migrate", None).await;
    let (s, v) = env
        .admin(Method::POST, "/admin/accounts/stopped/cancel", None)
        .await;
    assert!(s.is_success(), "{v}");
    // when none of them has moved for an hour
    let mut db = env.db().await;
    age(&mut db, "accounts", "updated_at", "true").await;
    age(&mut db, "migration_runs", "updated_at", "true").await;
    // then only the run in progress is stuck, and the others are listed by their own filters
    let list = |q: &'static str| {
        let env = &env;
        async move {
            env.admin(Method::GET, &format!("/admin/migrations?{q}"), None)
                .await
                .1
        }
    };
    let stuck = list("stuck_for_secs=60").await;
    assert_eq!(stuck["total_count"], 1, "{stuck}");
    assert_eq!(stuck["accounts"][0]["shopper_id"], "moving");
    let fresh = list("stuck_for_secs=259200").await;
    assert_eq!(fresh["total_count"], 0, "three days: {fresh}");
    let cancelled = list("error=CANCELLED").await;
    assert_eq!(
        cancelled["accounts"][0]["shopper_id"], "stopped",
        "{cancelled}"
    );
    assert_eq!(cancelled["total_count"], 1);
    let literal = list("error=c%25ncelled").await;
    assert_eq!(
        literal["total_count"], 0,
        "% is matched literally: {literal}"
    );
    let (_, parked) = env.admin(Method::GET, "/admin/parked", None).await;
    assert_eq!(parked["parked"][0]["shopper_id"], "stopped", "{parked}");
    assert_eq!(parked["total_count"], 1);
    // a re-migration supersedes the parked run: nothing waits for an operator any more
    let (s, _) = env
        .admin(Method::POST, "/admin/accounts/stopped/remigrate", None)
        .await;
    assert!(s.is_success());
    let (_, c) = env.admin(Method::GET, "/admin/counts", None).await;
    assert_eq!(c["parked"], 0, "{c}");
    env.shutdown().await;
}
