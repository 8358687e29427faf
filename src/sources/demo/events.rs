//! Deterministic generator of realistic ConductorOne system-log events.
//!
//! [`DemoEventGenerator`] produces OCSF 1.3.0 events shaped like the ones ConductorOne's system
//! log emits, for the `conductorone_demo` source and for tests. Every kind of event ConductorOne
//! documents (team notes on the ConductorOne API §6.1, from `conductorone/docs`) is there, as
//! API Activity (class 6003) or Authentication (class 3002) like the rest of the log:
//!
//! | share | kind | class, `activity_id` | `activity_name` |
//! | --- | --- | --- | --- |
//! | 70 % | API calls: the acting user or service principal, source IP, user agent, the affected resource | 6003, from the method's verb (Create 1, Read 2, Update 3, Delete 4, else 99) | the caption of the id |
//! | 10 % | OAuth token grants by service principals | 3002, 99 | `client_credentials`, `token_exchange` |
//! | 8 % | MCP: sessions start, make tool calls, end (duration, succeeded/failed call counts) | 6003, 99 | `mcp_session_start`, `mcp_tool_call`, `mcp_session_end` |
//! | 4 % | Secret sharing: secret id, share code `XXXX-XXXX-XXXX`, mode, type, actor, client IP | 6003, 99 | `paper_secret_created`, `_opened`, `_opened_internal`, `_revoked`, `_revoked_admin`, `_magic_link_created`, `_access_denied`, `_file_downloaded` |
//! | 3 % | Enterprise-managed authorization token requests: user, client, audience, scopes with per-scope outcome, token id, signing key, algorithm, lifetime | 3002, 99 | `token_exchange` |
//! | 3 % | AI tool calls through the C1 gateway: user, AI client, MCP server, tool, result, denial reason, latency | 6003, 99 | `ai_tool_call` (assumed) |
//! | 1 % | AI access administration: access requests, tool approvals and classification, MCP servers, AI clients, kill switches, tenant defaults | 6003, 99 | `ai_…` (assumed) |
//! | 1 % | Automation circuit breakers: tripped, resumed, cancelled | 6003, 99 | `automation_circuit_breaker_…` (assumed) |
//!
//! **`activity_id`.** OCSF's `activity_name` is the caption of `activity_id`, except for 99
//! (Other), where it carries the source's own name for the activity. ConductorOne names its
//! product events and token grants itself (`mcp_tool_call`, `client_credentials`), and no
//! OCSF Authentication activity (Logon, Logoff, Authentication Ticket, ...) is "a token
//! grant", so every event whose `activity_name` is ConductorOne's own has `activity_id` 99;
//! only the API calls, named by their verb, have 1 to 4. `type_uid` is `class_uid * 100 +
//! activity_id` throughout.
//!
//! **What is documented and what is not.** The activity names of MCP, secret-sharing and
//! token-grant events and the fields each kind records are ConductorOne's documented ones;
//! where a field lives in the OCSF object is not documented: OCSF attributes where one fits
//! (`duration` and `count` of an MCP session, `actor.app_name`/`app_uid` for an AI client,
//! `service` for an MCP server, `session` for an issued token), the rest under `unmapped` with
//! the documentation's names. The docs name no activity for AI tool usage, AI access
//! administration or circuit breakers: those names are this generator's (marked "assumed"
//! above). `api.operation` of an API call is written `ServicePrincipalService/Create`, as the
//! docs show it (no package: the packages of the gRPC services are not public); product events
//! have their activity name there. Circuit-breaker events written before a 2026 release had no
//! `time`; [`DemoEventGenerator::untimed_circuit_breaker_events`] makes them that way (they
//! are then not valid OCSF, which requires `time`).
//!
//! About 5 % of events are failures (`status_id` 2, `status` "Failure") with a `status_detail`
//! fitting their kind. Every event carries `metadata` (version, a UUIDv4 `uid`, product,
//! `log_name` "system_log", `logged_time`), an integer `time`, severity, and every number is a
//! [`Value::Integer`].
//!
//! Every random choice comes from a small in-file PRNG (SplitMix64) seeded by the caller, so a
//! seed yields the same events on every run, platform and dependency version. Addresses come from
//! the documentation ranges (RFC 5737 and RFC 3849) and e-mail addresses from the reserved
//! `.example` domain, so demo data never names a real host or person.

mod product;

use vrl::value::{KeyString, ObjectMap, Value};

/// OCSF version of the events (`metadata.version`).
const OCSF_VERSION: &str = "1.3.0";
/// `metadata.product.name` and `metadata.product.vendor_name`.
const PRODUCT_NAME: &str = "ConductorOne";
/// `metadata.product.version`.
const PRODUCT_VERSION: &str = "2026.11";
/// The demo tenant's host: the audience of tokens and the host part of client IDs.
const TENANT_HOST: &str = "acme.conductor.one";
/// Domain of the demo users' e-mail addresses (reserved by RFC 2606).
const EMAIL_DOMAIN: &str = "acme.example";

/// The kinds of events, and the share of each (the last takes what is left).
const MIX: &[(Kind, f64)] = &[
    (Kind::ApiCall, 0.70),
    (Kind::TokenGrant, 0.10),
    (Kind::Mcp, 0.08),
    (Kind::SecretSharing, 0.04),
    (Kind::ManagedAuthorization, 0.03),
    (Kind::AiToolCall, 0.03),
    (Kind::AiAdministration, 0.01),
    (Kind::CircuitBreaker, 0.01),
];

/// A kind of event (see the module documentation).
#[derive(Clone, Copy, Debug)]
enum Kind {
    ApiCall,
    TokenGrant,
    Mcp,
    SecretSharing,
    ManagedAuthorization,
    AiToolCall,
    AiAdministration,
    CircuitBreaker,
}

/// Share of failed events, whatever their kind.
const FAILURE_RATE: f64 = 0.05;
/// Share of API calls made by service principals rather than people.
const SERVICE_PRINCIPAL_ACTOR_SHARE: f64 = 0.25;
/// Share of events from a principal's usual address (the rest come from anywhere).
const HOME_IP_SHARE: f64 = 0.85;
/// Share of token grants that are workload-federation token exchanges.
const TOKEN_EXCHANGE_SHARE: f64 = 0.30;

/// gRPC service names, as `api.service.name` and the first half of `api.operation`
/// (`ServicePrincipalService/Create`, the form ConductorOne's docs show; their packages are
/// not public, so none is invented).
const APPS: &str = "Apps";
const APP_ENTITLEMENTS: &str = "AppEntitlements";
const REQUEST_CATALOG: &str = "RequestCatalogManagementService";
const REQUEST_CATALOG_SEARCH: &str = "RequestCatalogSearchService";
const TASKS: &str = "TaskService";
const TASK_ACTIONS: &str = "TaskActionsService";
const USERS: &str = "UserService";
const POLICIES: &str = "Policies";
const SERVICE_PRINCIPALS: &str = "ServicePrincipalService";
const WORKLOAD_FEDERATION: &str = "WorkloadFederationService";
const AUTH: &str = "Auth";

/// What an API operation acts on; decides the event's `resources` entry.
#[derive(Clone, Copy)]
enum Target {
    /// No resource (collection listings, caller introspection).
    Nothing,
    App,
    Entitlement,
    Catalog,
    /// An access request task (random, short-lived objects).
    Task,
    /// One of the demo people.
    User,
    Policy,
    /// One of the demo service principals.
    ServicePrincipal,
    FederationProvider,
    FederationTrust,
}

/// One gRPC method of the ConductorOne API and how often it is called.
struct Operation {
    service: &'static str,
    method: &'static str,
    /// Relative frequency among API Activity events.
    weight: u32,
    target: Target,
}

/// Shorthand for the [`OPERATIONS`] table.
const fn op(service: &'static str, method: &'static str, weight: u32, target: Target) -> Operation {
    Operation {
        service,
        method,
        weight,
        target,
    }
}

/// The API methods the generator calls, reads being the most frequent as in real tenants.
const OPERATIONS: &[Operation] = &[
    op(APPS, "Get", 8, Target::App),
    op(APPS, "List", 6, Target::Nothing),
    op(APPS, "Create", 1, Target::App),
    op(APPS, "Update", 3, Target::App),
    op(APPS, "Delete", 1, Target::App),
    op(APP_ENTITLEMENTS, "Get", 6, Target::Entitlement),
    op(APP_ENTITLEMENTS, "List", 5, Target::App),
    op(APP_ENTITLEMENTS, "ListUsers", 3, Target::Entitlement),
    op(APP_ENTITLEMENTS, "Update", 2, Target::Entitlement),
    op(REQUEST_CATALOG, "Get", 3, Target::Catalog),
    op(REQUEST_CATALOG, "Create", 1, Target::Catalog),
    op(REQUEST_CATALOG, "Update", 1, Target::Catalog),
    op(REQUEST_CATALOG, "AddAppEntitlements", 1, Target::Catalog),
    op(
        REQUEST_CATALOG_SEARCH,
        "SearchEntitlements",
        3,
        Target::Nothing,
    ),
    op(TASKS, "Get", 6, Target::Task),
    op(TASKS, "CreateGrantTask", 4, Target::Entitlement),
    op(TASKS, "CreateRevokeTask", 1, Target::Entitlement),
    op(TASK_ACTIONS, "Approve", 4, Target::Task),
    op(TASK_ACTIONS, "Deny", 1, Target::Task),
    op(TASK_ACTIONS, "Comment", 1, Target::Task),
    op(USERS, "Get", 5, Target::User),
    op(USERS, "List", 3, Target::Nothing),
    op(POLICIES, "Get", 2, Target::Policy),
    op(POLICIES, "Create", 1, Target::Policy),
    op(POLICIES, "Update", 1, Target::Policy),
    op(POLICIES, "Delete", 1, Target::Policy),
    op(SERVICE_PRINCIPALS, "Create", 1, Target::ServicePrincipal),
    op(SERVICE_PRINCIPALS, "Delete", 1, Target::ServicePrincipal),
    op(
        SERVICE_PRINCIPALS,
        "CreateCredential",
        1,
        Target::ServicePrincipal,
    ),
    op(
        SERVICE_PRINCIPALS,
        "RevokeCredential",
        1,
        Target::ServicePrincipal,
    ),
    op(
        WORKLOAD_FEDERATION,
        "CreateProvider",
        1,
        Target::FederationProvider,
    ),
    op(
        WORKLOAD_FEDERATION,
        "DeleteProvider",
        1,
        Target::FederationProvider,
    ),
    op(
        WORKLOAD_FEDERATION,
        "CreateTrust",
        1,
        Target::FederationTrust,
    ),
    op(
        WORKLOAD_FEDERATION,
        "DeleteTrust",
        1,
        Target::FederationTrust,
    ),
    op(AUTH, "Introspect", 4, Target::Nothing),
];

/// API Activity `activity_id` for a method name, from its leading verb (the verb table of the
/// shared benchmark generator, plus `Search`): Create 1, Read 2, Update 3, Delete 4, else 99.
fn api_activity_id(method: &str) -> i64 {
    const VERBS: &[(&str, i64)] = &[
        ("Create", 1),
        ("Add", 1),
        ("Get", 2),
        ("List", 2),
        ("Search", 2),
        ("Update", 3),
        ("Approve", 3),
        ("Deny", 3),
        ("Comment", 3),
        ("Delete", 4),
        ("Revoke", 4),
    ];
    VERBS
        .iter()
        .find(|(verb, _)| method.starts_with(verb))
        .map_or(99, |&(_, id)| id)
}

/// OCSF caption of an API Activity `activity_id`.
fn api_activity_caption(activity_id: i64) -> &'static str {
    match activity_id {
        1 => "Create",
        2 => "Read",
        3 => "Update",
        4 => "Delete",
        99 => "Other",
        _ => "Unknown",
    }
}

/// The demo people: display name, and whether they are tenant admins.
const PEOPLE: &[(&str, bool)] = &[
    ("Alice Admin", true),
    ("Bob Builder", false),
    ("Carol Chen", false),
    ("Dan Diaz", false),
    ("Erin Evans", false),
    ("Frank Fu", true),
    ("Grace Go", false),
    ("Heidi Ho", false),
];

/// The demo service principals: display name, and the word pair of their client ID.
const SERVICE_PRINCIPAL_NAMES: &[(&str, &str)] = &[
    ("Terraform CI", "clever-fox"),
    ("GitHub Actions deployer", "brave-owl"),
    ("HR sync job", "quiet-lynx"),
    ("SIEM exporter", "swift-heron"),
];

/// User agents of people: browsers and the `cone` CLI.
const PERSON_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "cone/1.14.2 (darwin; arm64)",
];

/// User agents of service principals: SDKs, Terraform and `cone` in CI.
const AUTOMATION_AGENTS: &[&str] = &[
    "conductorone-sdk-go/1.26.1",
    "Terraform/1.9.5 terraform-provider-conductorone/1.3.0",
    "cone/1.14.2 (linux; amd64)",
];

const APP_NAMES: &[&str] = &[
    "Okta",
    "GitHub",
    "AWS Production",
    "Google Workspace",
    "Salesforce",
    "Snowflake",
    "Slack",
    "Datadog",
    "PagerDuty",
    "Jira",
];

const ENTITLEMENT_NAMES: &[&str] = &[
    "GitHub / Org Owner",
    "GitHub / Maintainer",
    "AWS Production / AdministratorAccess",
    "AWS Production / ReadOnlyAccess",
    "Okta / Super Administrator",
    "Snowflake / SYSADMIN",
    "Salesforce / System Administrator",
    "Datadog / Standard",
    "Jira / Project Admin",
];

const CATALOG_NAMES: &[&str] = &[
    "Engineering Onboarding",
    "Production Break-Glass",
    "Finance Tools",
    "Sales Tooling",
    "Security On-Call",
];

const POLICY_NAMES: &[&str] = &[
    "Default Access Policy",
    "Manager Approval",
    "Manager and App Owner Approval",
    "Break-Glass Auto-Approve",
    "Revocation Review",
];

const FEDERATION_PROVIDER_NAMES: &[&str] = &[
    "GitHub Actions",
    "Google Cloud",
    "AWS IAM",
    "Kubernetes prod-eks",
];

const FEDERATION_TRUST_NAMES: &[&str] = &[
    "acme/infra on main",
    "acme/deploy environment production",
    "gcp terraform-runner service account",
    "eks namespace c1-sync",
];

/// Issuers of the subject tokens presented in workload-federation token exchanges.
const FEDERATION_ISSUERS: &[&str] = &[
    "https://token.actions.githubusercontent.com",
    "https://accounts.google.com",
    "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
];

/// Failure reasons of API calls: `status_detail`, HTTP status and message.
const API_FAILURES: &[(&str, i64, &str)] = &[
    (
        "permission_denied",
        403,
        "caller lacks the permission for this operation",
    ),
    ("not_found", 404, "object not found"),
    ("invalid_argument", 400, "request failed validation"),
    (
        "failed_precondition",
        400,
        "object was modified by another request",
    ),
    ("resource_exhausted", 429, "rate limit exceeded"),
];

/// Failure reasons of `client_credentials` grants.
const CLIENT_CREDENTIALS_FAILURES: &[&str] = &[
    "sp_disabled",
    "token_too_old",
    "invalid_jwt_format",
    "ip_not_allowed",
];

/// Failure reasons of `token_exchange` grants.
const TOKEN_EXCHANGE_FAILURES: &[&str] = &[
    "trust_not_found",
    "issuer_mismatch",
    "cel_condition_not_met",
    "invalid_jwt_format",
    "ip_not_allowed",
];

/// Characters of ConductorOne object IDs (KSUID-style base62).
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// SplitMix64 (Steele, Lea and Flood): tiny, fast, and stable across Rust and crate versions.
#[derive(Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2^-40 for the sizes used here).
    /// `n` must be non-zero.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `low..=high`.
    fn range(&mut self, low: i64, high: i64) -> i64 {
        let span = high.abs_diff(low).saturating_add(1);
        low.saturating_add_unsigned(self.below(span))
    }

    /// Uniform in `[0, 1)`, from 53 random bits.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniform index into a collection of `len` elements; `len` must not be zero.
    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// A uniformly chosen element; `items` must not be empty (all callers pass non-empty
    /// constant tables).
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// A random UUID version 4 in its canonical lowercase form.
    fn uuid_v4(&mut self) -> String {
        let high = (self.next_u64() & !0xF000) | 0x4000;
        let low = (self.next_u64() & !(0b11 << 62)) | (0b10 << 62);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xFFFF,
            high & 0xFFFF,
            low >> 48,
            low & 0xFFFF_FFFF_FFFF
        )
    }

    /// A random ConductorOne-style object ID: `2` and 26 base62 characters.
    fn c1_id(&mut self) -> String {
        let mut id = String::with_capacity(27);
        id.push('2');
        for _ in 0..26 {
            id.push(char::from(self.pick(BASE62)));
        }
        id
    }

    /// A random source address: mostly IPv4 from the RFC 5737 documentation networks, sometimes
    /// IPv6 from RFC 3849's `2001:db8::/32`.
    fn ip(&mut self) -> String {
        if self.chance(0.1) {
            format!(
                "2001:db8:{:x}:{:x}::{:x}",
                self.below(0x1_0000),
                self.below(0x1_0000),
                self.range(1, 0xFFFF)
            )
        } else {
            let network = self.pick(&["192.0.2", "198.51.100", "203.0.113"]);
            format!("{network}.{}", self.range(1, 254))
        }
    }
}

/// SplitMix64's output function (a strong 64-bit mixer).
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A person or service principal that acts in the demo tenant.
struct Principal {
    /// `user.uid`: a C1 object ID for people, the client ID for service principals.
    uid: String,
    name: &'static str,
    /// Only people have one.
    email: Option<String>,
    /// OCSF user `type_id`: 1 User, 2 Admin, 3 System.
    type_id: i64,
    /// The address this principal usually calls from.
    home_ip: String,
}

impl Principal {
    /// The OCSF `user` object.
    fn user(&self) -> Value {
        let mut user = ObjectMap::new();
        put(&mut user, "uid", self.uid.as_str());
        put(&mut user, "name", self.name);
        if let Some(email) = &self.email {
            put(&mut user, "email_addr", email.as_str());
        }
        put(&mut user, "type_id", self.type_id);
        put(&mut user, "type", user_type_caption(self.type_id));
        Value::Object(user)
    }
}

/// OCSF caption of a user `type_id`.
fn user_type_caption(type_id: i64) -> &'static str {
    match type_id {
        1 => "User",
        2 => "Admin",
        3 => "System",
        99 => "Other",
        _ => "Unknown",
    }
}

/// Whether an event failed and why.
#[derive(Clone, Copy)]
enum Outcome {
    Success,
    Failure(&'static str),
}

/// OCSF class of an event, with its category.
#[derive(Clone, Copy)]
enum Class {
    ApiActivity,
    Authentication,
}

impl Class {
    fn uid(self) -> i64 {
        match self {
            Class::ApiActivity => 6003,
            Class::Authentication => 3002,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::ApiActivity => "API Activity",
            Class::Authentication => "Authentication",
        }
    }

    fn category(self) -> (i64, &'static str) {
        match self {
            Class::ApiActivity => (6, "Application Activity"),
            Class::Authentication => (3, "Identity & Access Management"),
        }
    }
}

/// Deterministic generator of realistic ConductorOne OCSF events.
///
/// Holds the demo tenant (people, service principals, their usual addresses) and the current MCP
/// session; see the module documentation for the mix of events.
pub struct DemoEventGenerator {
    rng: SplitMix64,
    /// Salt for the stable IDs of named objects (apps, policies, …).
    id_salt: u64,
    people: Vec<Principal>,
    service_principals: Vec<Principal>,
    /// Cumulative weights of [`OPERATIONS`].
    operation_weights: Vec<u64>,
    /// The product events' state (MCP session, shared secrets, tripped breakers).
    product: product::State,
    /// Circuit-breaker events without `time` (as before a 2026 release).
    untimed_circuit_breaker_events: bool,
}

impl DemoEventGenerator {
    /// `seed` fixes every random choice (uids, actors, IPs, operations).
    pub fn new(seed: u64) -> Self {
        let mut rng = SplitMix64(seed);
        let id_salt = rng.next_u64();
        let people = PEOPLE
            .iter()
            .map(|&(name, admin)| Principal {
                uid: stable_c1_id(id_salt, "user", name),
                name,
                email: Some(format!(
                    "{}@{EMAIL_DOMAIN}",
                    name.to_lowercase().replace(' ', ".")
                )),
                type_id: if admin { 2 } else { 1 },
                home_ip: rng.ip(),
            })
            .collect();
        let service_principals = SERVICE_PRINCIPAL_NAMES
            .iter()
            .map(|&(name, words)| Principal {
                uid: format!("{words}-{}@{TENANT_HOST}/spc", rng.range(10_000, 99_999)),
                name,
                email: None,
                type_id: 3,
                home_ip: rng.ip(),
            })
            .collect();
        let operation_weights = OPERATIONS
            .iter()
            .scan(0u64, |total, operation| {
                *total += u64::from(operation.weight);
                Some(*total)
            })
            .collect();
        Self {
            rng,
            id_salt,
            people,
            service_principals,
            operation_weights,
            product: product::State::default(),
            untimed_circuit_breaker_events: false,
        }
    }

    /// With `untimed`, circuit-breaker events have no `time`, as ConductorOne wrote them
    /// before a 2026 release (they are then not valid OCSF: `time` is required).
    pub fn untimed_circuit_breaker_events(mut self, untimed: bool) -> Self {
        self.untimed_circuit_breaker_events = untimed;
        self
    }

    /// One event whose OCSF `time` is `time_ms` (epoch milliseconds); see the module
    /// documentation for the mix.
    pub fn generate(&mut self, time_ms: i64) -> Value {
        let draw = self.rng.unit();
        let mut bound = 0.0;
        let kind = MIX
            .iter()
            .find(|(_, share)| {
                bound += share;
                draw < bound
            })
            .map_or(Kind::CircuitBreaker, |(kind, _)| *kind);
        match kind {
            Kind::ApiCall => self.api_activity(time_ms),
            Kind::TokenGrant => self.authentication(time_ms),
            Kind::Mcp => self.mcp_event(time_ms),
            Kind::SecretSharing => self.secret_sharing(time_ms),
            Kind::ManagedAuthorization => self.managed_authorization(time_ms),
            Kind::AiToolCall => self.ai_tool_call(time_ms),
            Kind::AiAdministration => self.ai_administration(time_ms),
            Kind::CircuitBreaker => self.circuit_breaker(time_ms),
        }
    }

    /// An API Activity event for one gRPC call by a person or a service principal.
    fn api_activity(&mut self, time_ms: i64) -> Value {
        let operation = self.pick_operation();
        let activity_id = api_activity_id(operation.method);
        let failure = self.failure(API_FAILURES);
        let outcome = failure.map_or(Outcome::Success, |(detail, _, _)| Outcome::Failure(detail));
        let automated = self.rng.chance(SERVICE_PRINCIPAL_ACTOR_SHARE);
        let (actor_index, agent) = if automated {
            let index = self.rng.index(self.service_principals.len());
            (index, self.rng.pick(AUTOMATION_AGENTS))
        } else {
            let index = self.rng.index(self.people.len());
            (index, self.rng.pick(PERSON_AGENTS))
        };
        let ip = self.source_ip(automated, actor_index);
        // `api.operation` as ConductorOne's docs show it; the HTTP path of the gRPC call.
        let operation_name = format!("{}/{}", operation.service, operation.method);
        let path = format!("/{operation_name}");

        let mut event = self.envelope(
            time_ms,
            Class::ApiActivity,
            activity_id,
            api_activity_caption(activity_id),
            outcome,
        );
        let actor = self.principal(automated, actor_index);
        put(&mut event, "actor", object([("user", actor.user())]));
        let observables = observables(actor.email.as_deref(), &ip);

        let mut api = ObjectMap::new();
        put(&mut api, "operation", operation_name.as_str());
        put(
            &mut api,
            "service",
            object([("name", operation.service.into())]),
        );
        put(
            &mut api,
            "request",
            object([("uid", self.rng.uuid_v4().into())]),
        );
        if let Some((detail, code, message)) = failure {
            put(
                &mut api,
                "response",
                object([
                    ("code", code.into()),
                    ("error", detail.into()),
                    ("error_message", message.into()),
                ]),
            );
        }
        put(&mut event, "api", Value::Object(api));
        put(
            &mut event,
            "http_request",
            http_request(agent, path.as_str()),
        );
        put(&mut event, "src_endpoint", object([("ip", ip.into())]));
        if let Some(resource) = self.resource(operation.target) {
            put(&mut event, "resources", Value::Array(vec![resource]));
        }
        put(&mut event, "observables", observables);
        Value::Object(event)
    }

    /// An Authentication event: a service principal's OAuth 2.0 token grant.
    fn authentication(&mut self, time_ms: i64) -> Value {
        let exchange = self.rng.chance(TOKEN_EXCHANGE_SHARE);
        let (grant, failures) = if exchange {
            ("token_exchange", TOKEN_EXCHANGE_FAILURES)
        } else {
            ("client_credentials", CLIENT_CREDENTIALS_FAILURES)
        };
        let outcome = self.outcome(failures);
        let index = self.rng.index(self.service_principals.len());
        let agent = self.rng.pick(AUTOMATION_AGENTS);
        // Federated workloads run on short-lived CI or cloud machines: any address.
        let ip = if exchange {
            self.rng.ip()
        } else {
            self.source_ip(true, index)
        };

        // The OAuth grant type goes in `activity_name`, as ConductorOne documents: a name of
        // its own, so `activity_id` is 99 (Other; see the module documentation).
        let mut event = self.envelope(time_ms, Class::Authentication, 99, grant, outcome);
        put(&mut event, "auth_protocol_id", 6);
        put(&mut event, "auth_protocol", "OAUTH 2.0");
        put(&mut event, "user", self.service_principals[index].user());
        put(
            &mut event,
            "service",
            object([("name", PRODUCT_NAME.into())]),
        );
        put(
            &mut event,
            "dst_endpoint",
            object([("hostname", TENANT_HOST.into())]),
        );
        put(
            &mut event,
            "http_request",
            http_request(agent, "/auth/v1/token"),
        );
        if let Outcome::Success = outcome {
            let lifetime_ms = if exchange { 600_000 } else { 3_600_000 };
            put(
                &mut event,
                "session",
                object([
                    ("uid", self.rng.uuid_v4().into()),
                    ("created_time", time_ms.into()),
                    (
                        "expiration_time",
                        time_ms.saturating_add(lifetime_ms).into(),
                    ),
                    ("issuer", format!("https://{TENANT_HOST}").into()),
                ]),
            );
        }
        if exchange {
            let issuer = self.rng.pick(FEDERATION_ISSUERS);
            put(
                &mut event,
                "unmapped",
                object([("subject_token_issuer", issuer.into())]),
            );
        }
        put(&mut event, "observables", observables(None, &ip));
        put(&mut event, "src_endpoint", object([("ip", ip.into())]));
        Value::Object(event)
    }

    /// The fields every event has: classification, severity, status, time and metadata.
    fn envelope(
        &mut self,
        time_ms: i64,
        class: Class,
        activity_id: i64,
        activity_name: &str,
        outcome: Outcome,
    ) -> ObjectMap {
        let (category_uid, category_name) = class.category();
        let type_caption = match class {
            Class::ApiActivity => api_activity_caption(activity_id),
            Class::Authentication => authentication_activity_caption(activity_id),
        };
        let (severity_id, severity) = match (outcome, class) {
            (Outcome::Success, _) => (1, "Informational"),
            (Outcome::Failure(_), Class::ApiActivity) => (2, "Low"),
            (Outcome::Failure(_), Class::Authentication) => (3, "Medium"),
        };

        let mut event = ObjectMap::new();
        put(&mut event, "activity_id", activity_id);
        put(&mut event, "activity_name", activity_name);
        put(&mut event, "category_uid", category_uid);
        put(&mut event, "category_name", category_name);
        put(&mut event, "class_uid", class.uid());
        put(&mut event, "class_name", class.name());
        put(&mut event, "type_uid", class.uid() * 100 + activity_id);
        put(
            &mut event,
            "type_name",
            format!("{}: {type_caption}", class.name()),
        );
        put(&mut event, "severity_id", severity_id);
        put(&mut event, "severity", severity);
        match outcome {
            Outcome::Success => {
                put(&mut event, "status_id", 1);
                put(&mut event, "status", "Success");
            }
            Outcome::Failure(detail) => {
                put(&mut event, "status_id", 2);
                put(&mut event, "status", "Failure");
                put(&mut event, "status_detail", detail);
            }
        }
        put(&mut event, "time", time_ms);
        let logged_time = time_ms.saturating_add(self.rng.range(5, 900));
        put(
            &mut event,
            "metadata",
            object([
                ("version", OCSF_VERSION.into()),
                ("uid", self.rng.uuid_v4().into()),
                (
                    "product",
                    object([
                        ("name", PRODUCT_NAME.into()),
                        ("vendor_name", PRODUCT_NAME.into()),
                        ("version", PRODUCT_VERSION.into()),
                    ]),
                ),
                ("log_name", "system_log".into()),
                ("logged_time", logged_time.into()),
            ]),
        );
        event
    }

    /// `None` for a success, or (at [`FAILURE_RATE`]) the reason of a failure, drawn from
    /// `reasons`.
    fn failure<T: Copy>(&mut self, reasons: &[T]) -> Option<T> {
        self.rng
            .chance(FAILURE_RATE)
            .then(|| self.rng.pick(reasons))
    }

    /// Success, or (at [`FAILURE_RATE`]) a failure with a `status_detail` from `details`.
    fn outcome(&mut self, details: &[&'static str]) -> Outcome {
        self.failure(details)
            .map_or(Outcome::Success, Outcome::Failure)
    }

    /// An API operation, drawn by weight.
    fn pick_operation(&mut self) -> &'static Operation {
        let total = self.operation_weights.last().copied().unwrap_or(0);
        let draw = self.rng.below(total.max(1));
        let index = self
            .operation_weights
            .partition_point(|&bound| bound <= draw);
        OPERATIONS.get(index).unwrap_or(&OPERATIONS[0])
    }

    fn principal(&self, automated: bool, index: usize) -> &Principal {
        if automated {
            &self.service_principals[index]
        } else {
            &self.people[index]
        }
    }

    /// Where a principal calls from: usually its home address, sometimes anywhere.
    fn source_ip(&mut self, automated: bool, index: usize) -> String {
        if self.rng.chance(HOME_IP_SHARE) {
            self.principal(automated, index).home_ip.clone()
        } else {
            self.rng.ip()
        }
    }

    /// The `resources` entry for an operation's target, if it has one.
    fn resource(&mut self, target: Target) -> Option<Value> {
        let (kind, name) = match target {
            Target::Nothing => return None,
            Target::Task => {
                // Tasks are many and short-lived: a fresh ID and number each time.
                let uid = self.rng.c1_id();
                let name = format!("Task #{}", self.rng.range(1_000, 99_999));
                return Some(resource_object(uid, "Task", name));
            }
            Target::User => {
                let person = &self.people[self.rng.index(self.people.len())];
                let (uid, name) = (person.uid.clone(), person.name.to_owned());
                return Some(resource_object(uid, "User", name));
            }
            Target::App => ("App", self.rng.pick(APP_NAMES)),
            Target::Entitlement => ("AppEntitlement", self.rng.pick(ENTITLEMENT_NAMES)),
            Target::Catalog => ("RequestCatalog", self.rng.pick(CATALOG_NAMES)),
            Target::Policy => ("Policy", self.rng.pick(POLICY_NAMES)),
            Target::ServicePrincipal => {
                ("ServicePrincipal", self.rng.pick(SERVICE_PRINCIPAL_NAMES).0)
            }
            Target::FederationProvider => (
                "WorkloadFederationProvider",
                self.rng.pick(FEDERATION_PROVIDER_NAMES),
            ),
            Target::FederationTrust => (
                "WorkloadFederationTrust",
                self.rng.pick(FEDERATION_TRUST_NAMES),
            ),
        };
        let uid = stable_c1_id(self.id_salt, kind, name);
        Some(resource_object(uid, kind, name.to_owned()))
    }
}

/// OCSF caption of an Authentication `activity_id`.
fn authentication_activity_caption(activity_id: i64) -> &'static str {
    match activity_id {
        1 => "Logon",
        2 => "Logoff",
        3 => "Authentication Ticket",
        4 => "Service Ticket Request",
        5 => "Service Ticket Renew",
        6 => "Preauth",
        99 => "Other",
        _ => "Unknown",
    }
}

/// A ConductorOne-style ID that is the same for the same `(salt, kind, name)`, so a named object
/// (an app, a policy, a person) keeps its ID across the events of one generator.
fn stable_c1_id(salt: u64, kind: &str, name: &str) -> String {
    // FNV-1a over kind and name, then SplitMix64 seeded with it.
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325 ^ salt;
    for byte in kind.bytes().chain([0]).chain(name.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    SplitMix64(mix64(hash)).c1_id()
}

/// An OCSF `resource_details` object.
fn resource_object(uid: String, kind: &str, name: String) -> Value {
    object([
        ("uid", uid.into()),
        ("type", kind.into()),
        ("name", name.into()),
    ])
}

/// An OCSF `http_request` object for a POST to the tenant.
fn http_request(agent: &str, path: &str) -> Value {
    object([
        ("http_method", "POST".into()),
        ("user_agent", agent.into()),
        (
            "url",
            object([
                ("scheme", "https".into()),
                ("hostname", TENANT_HOST.into()),
                ("path", path.into()),
            ]),
        ),
    ])
}

/// The `observables` array: the actor's e-mail address (when it has one) and the source IP.
fn observables(email: Option<&str>, ip: &str) -> Value {
    let mut list = Vec::with_capacity(2);
    if let Some(email) = email {
        list.push(observable(
            "actor.user.email_addr",
            5,
            "Email Address",
            email,
        ));
    }
    list.push(observable("src_endpoint.ip", 2, "IP Address", ip));
    Value::Array(list)
}

/// One OCSF `observable`.
fn observable(name: &str, type_id: i64, type_caption: &str, value: &str) -> Value {
    object([
        ("name", name.into()),
        ("type_id", type_id.into()),
        ("type", type_caption.into()),
        ("value", value.into()),
    ])
}

/// An object `Value` from `(key, value)` pairs.
fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(key, value)| (KeyString::from(key), value))
            .collect(),
    )
}

/// Inserts `value` under `key`.
fn put(map: &mut ObjectMap, key: &str, value: impl Into<Value>) {
    map.insert(KeyString::from(key), value.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_ids_follow_the_verb() {
        assert_eq!(api_activity_id("CreateGrantTask"), 1);
        assert_eq!(api_activity_id("AddAppEntitlements"), 1);
        assert_eq!(api_activity_id("ListUsers"), 2);
        assert_eq!(api_activity_id("SearchEntitlements"), 2);
        assert_eq!(api_activity_id("Approve"), 3);
        assert_eq!(api_activity_id("RevokeCredential"), 4);
        assert_eq!(api_activity_id("DeleteTrust"), 4);
        assert_eq!(api_activity_id("Introspect"), 99);
    }

    #[test]
    fn the_mix_adds_up_to_every_event() {
        let total: f64 = MIX.iter().map(|(_, share)| share).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
    }

    #[test]
    fn uuids_are_version_4() {
        let mut rng = SplitMix64(1);
        for _ in 0..100 {
            let uuid = rng.uuid_v4();
            let bytes = uuid.as_bytes();
            assert_eq!(uuid.len(), 36);
            assert_eq!(bytes[14], b'4');
            assert!(matches!(bytes[19], b'8' | b'9' | b'a' | b'b'), "{uuid}");
        }
    }

    #[test]
    fn stable_ids_depend_on_name_and_salt() {
        assert_eq!(
            stable_c1_id(1, "App", "Okta"),
            stable_c1_id(1, "App", "Okta")
        );
        assert_ne!(
            stable_c1_id(1, "App", "Okta"),
            stable_c1_id(1, "App", "Slack")
        );
        assert_ne!(
            stable_c1_id(1, "App", "Okta"),
            stable_c1_id(2, "App", "Okta")
        );
        assert_eq!(stable_c1_id(1, "App", "Okta").len(), 27);
    }

    #[test]
    fn ranges_stay_in_bounds() {
        let mut rng = SplitMix64(9);
        for _ in 0..1_000 {
            let value = rng.range(5, 900);
            assert!((5..=900).contains(&value));
        }
    }
}
