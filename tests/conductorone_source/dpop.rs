//! DPoP-bound credentials (RFC 9449) against the fake tenant, which validates every proof the
//! way ConductorOne's validator does (`tests/common/c1_dpop.rs`): a wrong proof fails.

use std::time::Duration;

use c1_pipeline::component::SourceComponent as _;

use super::c1_server::{Dpop, FakeC1, Fault};
use super::{
    POLL, WAIT, config, expected_uids, poll_until, start_in_a_fresh_dir, tenant, tenant_and_source,
    uids,
};

/// A tenant of `count` events whose credential requires DPoP.
async fn dpop_tenant(count: usize) -> FakeC1 {
    let server = tenant(count).await;
    server.lock().dpop = Dpop::Required;
    server
}

/// The health check's error (what `validate` and the start-up check report) on `server`.
async fn health_error(server: &FakeC1, extra: &str) -> String {
    config(server, extra)
        .healthcheck()
        .await
        .expect_err("the health check fails")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_backfill_with_short_tokens_nonces_and_faults_completes_with_no_proof_refused() {
    let server = dpop_tenant(2000).await;
    {
        let mut state = server.lock();
        state.dpop_nonce = true;
        state.token_ttl = Duration::from_secs(1);
        state.faults = [
            Fault::Pass,
            Fault::Status(429, Some("1".into())),
            Fault::Status(503, None),
            Fault::Pass,
            Fault::RevokeTokens,
            Fault::Status(429, None),
            Fault::Pass,
            Fault::Status(503, Some("1".into())),
            Fault::Status(503, None),
        ]
        .into();
    }
    let (_dir, mut source) = start_in_a_fresh_dir(&server, "page_size = 50", true);
    let events = source.collect(2000, Duration::from_secs(30)).await;
    assert_eq!(uids(&events), expected_uids(0..2000));
    source.assert_quiet(Duration::from_millis(400)).await;
    source.stop().await.expect("clean stop");

    let state = server.lock();
    assert!(
        state.proof_failures.is_empty(),
        "{:?}",
        state.proof_failures
    );
    assert!(state.auth_failures.is_empty(), "{:?}", state.auth_failures);
    assert!(
        state.mints >= 3,
        "the 1 s tokens were replaced as they aged: {} mints",
        state.mints
    );
    assert_eq!(
        state.nonce_challenges, 1,
        "one challenge, then the newest nonce each token answer handed out"
    );
    assert_eq!(state.unauthorized, 1, "only the revoked token was refused");
    // Every call that got past authentication was a DPoP call with a valid, fresh proof.
    assert_eq!(state.dpop_calls, state.requests.len() - state.unauthorized);
    assert_eq!(state.proofs_accepted, state.mints + state.dpop_calls);
    assert_eq!(
        state.seen.jtis.len(),
        state.proofs_accepted,
        "no jti reused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_refuses_the_proof_is_reported_clearly_and_retried() {
    let server = dpop_tenant(20).await;
    server.lock().reject_proofs = true;
    // The OAuth error and its description (the proof it quotes hidden), and what to check.
    let error = health_error(&server, "").await;
    for expected in [
        "the token endpoint answered 400: invalid_dpop_proof (proof [REDACTED]",
        "refused by policy)",
        "check this machine's clock",
    ] {
        assert!(error.contains(expected), "{expected:?} is not in: {error}");
    }

    let (_dir, mut source) = start_in_a_fresh_dir(&server, "", true);
    poll_until(WAIT, POLL, async || {
        let refused = source
            .metrics
            .get_labelled("conductorone_api_errors_total", &[("status", "token_400")]);
        if refused >= 3 {
            Ok(())
        } else {
            Err(format!(
                "{refused} refused token requests, expected retries"
            ))
        }
    })
    .await;
    assert!(!source.task.is_finished(), "a refused proof is retried");
    server.lock().reject_proofs = false;
    let events = source.collect(20, Duration::from_secs(10)).await;
    assert_eq!(uids(&events), expected_uids(0..20));
    source.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_call_whose_proof_is_refused_names_the_challenge() {
    let server = dpop_tenant(5).await;
    server.lock().reject_api_proofs = true;
    let error = health_error(&server, "").await;
    for expected in [
        "HTTP 401",
        "WWW-Authenticate: DPoP",
        "error=\"invalid_dpop_proof\"",
    ] {
        assert!(error.contains(expected), "{expected:?} is not in: {error}");
    }
    let state = server.lock();
    assert_eq!(state.mints, 2, "a fresh token after the first 401");
    assert_eq!(state.unauthorized, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_requires_its_own_rotating_nonce_is_answered_once_then_followed() {
    let server = dpop_tenant(600).await;
    {
        let mut state = server.lock();
        state.dpop_nonce = true;
        state.api_dpop_nonce = true;
    }
    let (_dir, mut source) = start_in_a_fresh_dir(&server, "page_size = 20", true);
    let events = source.collect(600, Duration::from_secs(30)).await;
    assert_eq!(uids(&events), expected_uids(0..600));
    source.stop().await.expect("clean stop");

    let state = server.lock();
    assert!(
        state.proof_failures.is_empty(),
        "{:?}",
        state.proof_failures
    );
    assert_eq!(
        state.api_nonce_challenges,
        1,
        "one challenge, then the newest nonce each API answer handed out (it changed every {} calls)",
        super::c1_server::API_NONCE_LIFETIME_CALLS
    );
    assert_eq!(state.nonce_challenges, 1, "the token endpoint's own nonce");
    assert!(
        state.dpop_calls >= 30,
        "{} calls, so the nonce changed at least 10 times",
        state.dpop_calls
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_asks_for_a_nonce_again_after_getting_it_is_reported() {
    let server = dpop_tenant(5).await;
    {
        let mut state = server.lock();
        state.api_dpop_nonce = true;
        state.api_nonce_always_stale = true;
    }
    let error = health_error(&server, "").await;
    for expected in ["HTTP 401", "error=\"use_dpop_nonce\""] {
        assert!(error.contains(expected), "{expected:?} is not in: {error}");
    }
    let state = server.lock();
    assert_eq!(
        state.api_nonce_challenges, 3,
        "answered once, then one fresh token, then the error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dpop_false_no_proof_is_sent_and_bearer_tokens_work() {
    let (server, _dir, mut source) = tenant_and_source(150, "dpop = false", true).await;
    assert_eq!(
        uids(&source.collect(150, Duration::from_secs(10)).await),
        expected_uids(0..150)
    );
    source.stop().await.expect("clean stop");
    {
        let state = server.lock();
        assert_eq!((state.proofs_accepted, state.dpop_calls), (0, 0));
        assert!(state.seen.jtis.is_empty() && state.proof_failures.is_empty());
        assert_eq!(state.mints, 1);
    }

    // A credential that requires DPoP refuses such a client, and says so.
    server.lock().dpop = Dpop::Required;
    let error = health_error(&server, "dpop = false").await;
    assert!(
        error.contains("invalid_dpop_proof (the credential requires a DPoP proof)"),
        "{error}"
    );

    // A server that binds a token anyway stops the source with what to change.
    {
        let mut state = server.lock();
        state.dpop = Dpop::Optional;
        state.token_type = Some("DPoP".into());
    }
    let (_dir, source) = start_in_a_fresh_dir(&server, "dpop = false", true);
    let result = tokio::time::timeout(Duration::from_secs(5), source.task)
        .await
        .expect("the source stops")
        .expect("no panic");
    let message = result.expect_err("a fatal error").to_string();
    assert!(message.contains("remove `dpop = false`"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_proofs_issues_bearer_tokens_used_without_proofs() {
    let server = tenant(250).await;
    server.lock().dpop = Dpop::Unsupported;
    config(&server, "").healthcheck().await.expect("healthy");
    let (_dir, mut source) = start_in_a_fresh_dir(&server, "", true);
    assert_eq!(
        uids(&source.collect(250, Duration::from_secs(10)).await),
        expected_uids(0..250)
    );
    source.stop().await.expect("clean stop");
    let state = server.lock();
    assert_eq!(
        state.proofs_with_bearer, 0,
        "a Bearer token goes without a proof"
    );
    assert_eq!(state.dpop_calls, 0);
    assert!(state.requests.len() >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_challenges_are_answered_once_and_bad_ones_are_named() {
    let server = dpop_tenant(5).await;
    {
        let mut state = server.lock();
        state.dpop_nonce = true;
        state.challenge_without_nonce = true;
    }
    let error = health_error(&server, "").await;
    assert!(error.contains("sent no DPoP-Nonce header"), "{error}");

    // The nonce handed out is already stale when the proof carrying it arrives.
    {
        let mut state = server.lock();
        state.challenge_without_nonce = false;
        state.rotate_nonce_on_challenge = true;
        state.nonce_challenges = 0;
    }
    let error = health_error(&server, "").await;
    for expected in [
        "answered 400: use_dpop_nonce",
        "asked for a new DPoP nonce again",
    ] {
        assert!(error.contains(expected), "{expected:?} is not in: {error}");
    }
    assert_eq!(
        server.lock().nonce_challenges,
        2,
        "answered once, then given up"
    );

    // A well-behaved server: one challenge, answered.
    {
        let mut state = server.lock();
        state.rotate_nonce_on_challenge = false;
        state.nonce_challenges = 0;
    }
    config(&server, "").healthcheck().await.expect("healthy");
    let state = server.lock();
    assert_eq!(state.nonce_challenges, 1);
    assert_eq!(state.mints, 1);
    assert_eq!(state.dpop_calls, 2, "introspect and the probe listing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_token_type_stops_the_source_with_a_clear_error() {
    let server = tenant(10).await;
    server.lock().token_type = Some("MAC".into());
    let (_dir, source) = start_in_a_fresh_dir(&server, "", true);
    let result = tokio::time::timeout(Duration::from_secs(5), source.task)
        .await
        .expect("the source stops")
        .expect("no panic");
    let message = result.expect_err("a fatal error").to_string();
    assert!(
        message.contains("a token of type `MAC`; this source uses `Bearer` and `DPoP` tokens only"),
        "{message}"
    );
}
