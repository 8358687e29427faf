//! The product events of the demo generator: MCP sessions and tool calls, secret sharing,
//! enterprise-managed authorization, AI tool usage and administration, automation circuit
//! breakers. Which fields each records, and which names are assumed, is in the parent
//! module's documentation; the facts come from ConductorOne's docs (`product/admin/c1-mcp.mdx`,
//! `secret-sharing.mdx`, `enterprise-managed-authorization/audit.mdx`,
//! `audit-ai-tool-usage.mdx`, `automation-circuit-breaker.mdx`).

use vrl::value::{ObjectMap, Value};

use super::{
    Class, DemoEventGenerator, Outcome, PERSON_AGENTS, TENANT_HOST, object, observables, put,
    stable_c1_id,
};

/// User agents of MCP and AI clients (the docs name Claude Desktop, Codex, Cursor, VS Code).
const MCP_AGENTS: &[&str] = &[
    "Claude Desktop/0.9 (mcp)",
    "Cursor/1.2 (mcp)",
    "Codex/0.40 (mcp)",
    "VS Code/1.105 (mcp)",
];

/// The C1 MCP server's tools, as documented, and whether each one takes an object type.
const MCP_TOOLS: &[(&str, bool)] = &[
    ("find_api_objects", true),
    ("count_api_objects", true),
    ("list_object_types", false),
    ("describe_object_filters", true),
    ("get_object_schema", true),
];

/// Some of the 20 object types the C1 MCP server can query.
const MCP_OBJECT_TYPES: &[&str] = &[
    "User",
    "App",
    "AppEntitlement",
    "Grant",
    "Task",
    "AccessReview",
    "AccessViolation",
    "RequestCatalog",
];

/// Failure reasons of MCP session starts and tool calls.
const MCP_FAILURES: &[&str] = &["permission_denied", "invalid_argument", "deadline_exceeded"];
const MCP_SESSION_FAILURES: &[&str] = &["ip_not_allowed", "connection_revoked"];

/// External recipients of shared secrets (reserved `.example` domains).
const EXTERNAL_RECIPIENTS: &[&str] = &[
    "jordan@partner.example",
    "sam@auditor.example",
    "lee@contractor.example",
];

/// Why a secret could not be opened (the docs: not a recipient, a used or expired magic
/// link, a revoked or burned secret).
const SECRET_DENIALS: &[&str] = &[
    "not_a_recipient",
    "magic_link_expired",
    "secret_revoked",
    "view_limit_reached",
];

/// Characters of a share code `XXXX-XXXX-XXXX`.
const SHARE_CODE_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Secrets shared at once; the oldest is forgotten when another is created.
const LIVE_SECRETS: usize = 8;

/// AI clients: display name and client id.
const AI_CLIENTS: &[(&str, &str)] = &[
    ("Claude", "claude-8f2c41d7"),
    ("VS Code", "vscode-3a91be05"),
    ("Cursor", "cursor-c7d0e216"),
];

/// MCP servers behind enterprise-managed authorization or the C1 gateway: name, the
/// audience of their tokens (their authorization server), their scopes and tools.
const MCP_SERVERS: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "GitHub MCP",
        "https://auth.github-mcp.acme.example",
        &["repo.read", "repo.write", "issues.write"],
        &[
            "github_create_issue",
            "github_search_code",
            "github_get_pull_request",
        ],
    ),
    (
        "Jira MCP",
        "https://auth.jira-mcp.acme.example",
        &["issues.read", "issues.write"],
        &["jira_create_issue", "jira_search"],
    ),
    (
        "Snowflake MCP",
        "https://auth.snowflake-mcp.acme.example",
        &["warehouse.query", "schema.read"],
        &["snowflake_run_query", "snowflake_list_tables"],
    ),
];

/// Why enterprise-managed authorization denies a token (the docs' status details).
const EMA_DENIALS: &[&str] = &[
    "No grant for the scope",
    "Scope not enabled",
    "Server paused",
    "Target URL not registered",
    "No signing key for the algorithm",
];

/// Signing algorithms of issued tokens (ES256 is the default).
const EMA_ALGORITHMS: &[&str] = &["ES256", "ES256", "ES256", "RS256"];

/// Why the C1 gateway denies a tool call (the docs' examples).
const AI_DENIALS: &[&str] = &[
    "tool not in user's access profile",
    "kill switch active",
    "client closed",
];

/// AI access administration: activity name, the kind of object it changes, and extra
/// `unmapped` fields of its own.
const AI_ADMIN_ACTIVITIES: &[(&str, &str)] = &[
    ("ai_access_request_submitted", "AccessRequest"),
    ("ai_access_request_approved", "AccessRequest"),
    ("ai_access_request_denied", "AccessRequest"),
    ("ai_tool_approved", "Tool"),
    ("ai_tool_disabled", "Tool"),
    ("ai_tool_classification_changed", "Tool"),
    ("ai_mcp_server_registered", "MCPServer"),
    ("ai_mcp_server_removed", "MCPServer"),
    ("ai_mcp_server_auth_changed", "MCPServer"),
    ("ai_client_registered", "AIClient"),
    ("ai_client_state_changed", "AIClient"),
    ("ai_kill_switch_flipped", "KillSwitch"),
    ("ai_tenant_defaults_changed", "Tenant"),
];

/// AI client states, in their documented order.
const AI_CLIENT_STATES: &[&str] = &["active", "hidden", "closed", "deleted"];

/// Automations with a circuit breaker: name, max executions and period.
const AUTOMATIONS: &[(&str, i64, &str)] = &[
    ("Offboard leavers", 50, "per_hour"),
    ("Sync group owners", 200, "per_day"),
    ("Revoke stale admin access", 20, "per_day"),
    ("Notify managers of new hires", 500, "per_week"),
];

/// The state product events carry from one to the next.
#[derive(Default)]
pub(super) struct State {
    /// The MCP session open now.
    mcp: Option<McpSession>,
    /// Secrets shared and not revoked, oldest first.
    secrets: Vec<SharedSecret>,
    /// Indexes into [`AUTOMATIONS`] whose breaker has tripped and is not resolved.
    tripped: Vec<usize>,
}

/// An MCP connection between its start and end events.
struct McpSession {
    uid: String,
    /// Index into [`DemoEventGenerator::people`].
    person: usize,
    ip: String,
    agent: &'static str,
    started_ms: i64,
    calls_left: u32,
    succeeded: i64,
    failed: i64,
}

/// A shared secret.
struct SharedSecret {
    uid: String,
    share_code: String,
    /// Shared with team members (SSO), or with external e-mail addresses (magic links).
    internal: bool,
    /// A file, or text.
    file: bool,
    /// Index into [`DemoEventGenerator::people`].
    creator: usize,
}

impl SharedSecret {
    /// The documented payload: secret id, share code, sharing mode, secret type.
    fn details(&self) -> Value {
        object([
            ("secret_id", self.uid.as_str().into()),
            ("share_code", self.share_code.as_str().into()),
            (
                "sharing_mode",
                if self.internal {
                    "internal"
                } else {
                    "external"
                }
                .into(),
            ),
            (
                "secret_type",
                if self.file { "file" } else { "text" }.into(),
            ),
        ])
    }
}

/// Who did something: a person of the tenant, or an external e-mail address.
enum Actor {
    Person(usize),
    External(&'static str),
}

impl DemoEventGenerator {
    /// A product event of class 6003, activity 99 named `name`: the envelope, `actor`,
    /// `api` (the operation is the activity's name), the source address and observables.
    fn product_event(
        &mut self,
        time_ms: i64,
        name: &str,
        outcome: Outcome,
        actor: Value,
        ip: &str,
        email: Option<&str>,
    ) -> ObjectMap {
        let mut event = self.envelope(time_ms, Class::ApiActivity, 99, name, outcome);
        put(&mut event, "actor", actor);
        let request = object([("uid", self.rng.uuid_v4().into())]);
        put(
            &mut event,
            "api",
            object([("operation", name.into()), ("request", request)]),
        );
        put(&mut event, "src_endpoint", object([("ip", ip.into())]));
        put(&mut event, "observables", observables(email, ip));
        event
    }

    /// The `actor` of a person, with their session (MCP) or their AI client.
    fn person_actor(&self, person: usize, extra: &[(&str, Value)]) -> Value {
        let mut actor = ObjectMap::new();
        put(&mut actor, "user", self.people[person].user());
        for (key, value) in extra {
            put(&mut actor, key, value.clone());
        }
        Value::Object(actor)
    }

    /// One MCP event: a session starts, makes a tool call, or ends.
    pub(super) fn mcp_event(&mut self, time_ms: i64) -> Value {
        match self.product.mcp.take() {
            None => self.mcp_session_start(time_ms),
            Some(session) if session.calls_left == 0 => self.mcp_session_end(session, time_ms),
            Some(session) => self.mcp_tool_call(session, time_ms),
        }
    }

    /// `mcp_session_start`: an AI assistant connects (a refused one opens no session).
    fn mcp_session_start(&mut self, time_ms: i64) -> Value {
        let person = self.rng.index(self.people.len());
        let session = McpSession {
            uid: self.rng.uuid_v4(),
            person,
            ip: self.source_ip(false, person),
            agent: self.rng.pick(MCP_AGENTS),
            started_ms: time_ms,
            calls_left: self.rng.range(3, 40).unsigned_abs() as u32,
            succeeded: 0,
            failed: 0,
        };
        let outcome = self.outcome(MCP_SESSION_FAILURES);
        let event = self.mcp_session_event(&session, time_ms, "mcp_session_start", outcome);
        if let Outcome::Success = outcome {
            self.product.mcp = Some(session);
        }
        Value::Object(event)
    }

    /// `mcp_session_end`: the session's length and its tool calls' outcomes.
    fn mcp_session_end(&mut self, session: McpSession, time_ms: i64) -> Value {
        let mut event =
            self.mcp_session_event(&session, time_ms, "mcp_session_end", Outcome::Success);
        let started = session.started_ms.min(time_ms);
        put(&mut event, "start_time", started);
        put(&mut event, "end_time", time_ms);
        put(&mut event, "duration", time_ms - started);
        put(&mut event, "count", session.succeeded + session.failed);
        put(
            &mut event,
            "unmapped",
            object([
                ("tool_calls_succeeded", session.succeeded.into()),
                ("tool_calls_failed", session.failed.into()),
            ]),
        );
        Value::Object(event)
    }

    /// The fields every MCP event has: the user and session, address and user agent.
    fn mcp_session_event(
        &mut self,
        session: &McpSession,
        time_ms: i64,
        name: &str,
        outcome: Outcome,
    ) -> ObjectMap {
        let session_object = object([("uid", session.uid.as_str().into())]);
        let actor = self.person_actor(session.person, &[("session", session_object)]);
        let email = self.people[session.person].email.clone();
        let mut event =
            self.product_event(time_ms, name, outcome, actor, &session.ip, email.as_deref());
        put(
            &mut event,
            "http_request",
            object([("user_agent", session.agent.into())]),
        );
        event
    }

    /// `mcp_tool_call`: one query of the session's assistant.
    fn mcp_tool_call(&mut self, mut session: McpSession, time_ms: i64) -> Value {
        let outcome = self.outcome(MCP_FAILURES);
        let (tool, typed) = self.rng.pick(MCP_TOOLS);
        let object_type = typed.then(|| self.rng.pick(MCP_OBJECT_TYPES));
        let result_count = match (outcome, tool) {
            (Outcome::Failure(_), _) => 0,
            (Outcome::Success, "find_api_objects") => self.rng.range(0, 200),
            (Outcome::Success, "list_object_types") => 20,
            (Outcome::Success, _) => 1,
        };
        let duration = self.rng.range(3, 900);
        let mut event = self.mcp_session_event(&session, time_ms, "mcp_tool_call", outcome);
        put(&mut event, "duration", duration);
        let mut details = ObjectMap::new();
        put(&mut details, "tool_name", tool);
        if let Some(object_type) = object_type {
            put(&mut details, "object_type", object_type);
        }
        put(&mut details, "result_count", result_count);
        put(&mut event, "unmapped", Value::Object(details));
        session.calls_left = session.calls_left.saturating_sub(1);
        match outcome {
            Outcome::Success => session.succeeded += 1,
            Outcome::Failure(_) => session.failed += 1,
        }
        self.product.mcp = Some(session);
        Value::Object(event)
    }

    /// A secret-sharing event: a secret is created, or something happens to a live one.
    pub(super) fn secret_sharing(&mut self, time_ms: i64) -> Value {
        if self.product.secrets.is_empty() || self.rng.chance(0.25) {
            return self.secret_created(time_ms);
        }
        let at = self.rng.index(self.product.secrets.len());
        let secret = &self.product.secrets[at];
        let (internal, file, creator) = (secret.internal, secret.file, secret.creator);
        let recipient = if internal {
            Actor::Person(self.rng.index(self.people.len()))
        } else {
            Actor::External(self.rng.pick(EXTERNAL_RECIPIENTS))
        };
        let draw = self.rng.unit();
        let (name, actor, outcome) = match draw {
            d if d < 0.10 => {
                let detail = self.rng.pick(SECRET_DENIALS);
                (
                    "paper_secret_access_denied",
                    recipient,
                    Outcome::Failure(detail),
                )
            }
            d if d < 0.18 => (
                "paper_secret_revoked",
                Actor::Person(creator),
                Outcome::Success,
            ),
            d if d < 0.24 => {
                let admin = self.admin();
                (
                    "paper_secret_revoked_admin",
                    Actor::Person(admin),
                    Outcome::Success,
                )
            }
            d if d < 0.45 && !internal => (
                "paper_secret_magic_link_created",
                recipient,
                Outcome::Success,
            ),
            d if d < 0.65 && file => ("paper_secret_file_downloaded", recipient, Outcome::Success),
            _ if internal => ("paper_secret_opened_internal", recipient, Outcome::Success),
            _ => ("paper_secret_opened", recipient, Outcome::Success),
        };
        let details = self.product.secrets[at].details();
        let uid = self.product.secrets[at].uid.clone();
        if name.starts_with("paper_secret_revoked") {
            self.product.secrets.remove(at);
        }
        self.secret_event(time_ms, name, outcome, actor, &uid, details)
    }

    /// `paper_secret_created`: a person shares a new secret.
    fn secret_created(&mut self, time_ms: i64) -> Value {
        let creator = self.rng.index(self.people.len());
        let code: Vec<String> = (0..3)
            .map(|_| {
                (0..4)
                    .map(|_| char::from(self.rng.pick(SHARE_CODE_CHARS)))
                    .collect()
            })
            .collect();
        let secret = SharedSecret {
            uid: self.rng.c1_id(),
            share_code: code.join("-"),
            internal: self.rng.chance(0.6),
            file: self.rng.chance(0.3),
            creator,
        };
        let (uid, details) = (secret.uid.clone(), secret.details());
        if self.product.secrets.len() >= LIVE_SECRETS {
            self.product.secrets.remove(0);
        }
        self.product.secrets.push(secret);
        let actor = Actor::Person(creator);
        self.secret_event(
            time_ms,
            "paper_secret_created",
            Outcome::Success,
            actor,
            &uid,
            details,
        )
    }

    /// A secret-sharing event by `actor` about the secret `uid`.
    fn secret_event(
        &mut self,
        time_ms: i64,
        name: &str,
        outcome: Outcome,
        actor: Actor,
        uid: &str,
        details: Value,
    ) -> Value {
        let (actor, email, ip) = match actor {
            Actor::Person(person) => (
                self.person_actor(person, &[]),
                self.people[person].email.clone(),
                self.source_ip(false, person),
            ),
            Actor::External(email) => {
                // Known only by the address the secret was shared with (OCSF wants a name).
                let user = object([
                    ("name", email.into()),
                    ("email_addr", email.into()),
                    ("type_id", 0.into()),
                    ("type", "Unknown".into()),
                ]);
                (
                    object([("user", user)]),
                    Some(email.to_owned()),
                    self.rng.ip(),
                )
            }
        };
        let agent = self.rng.pick(PERSON_AGENTS);
        let mut event = self.product_event(time_ms, name, outcome, actor, &ip, email.as_deref());
        put(
            &mut event,
            "http_request",
            object([("user_agent", agent.into())]),
        );
        let resource = object([("uid", uid.into()), ("type", "Secret".into())]);
        put(&mut event, "resources", Value::Array(vec![resource]));
        put(&mut event, "unmapped", details);
        Value::Object(event)
    }

    /// A tenant admin, for administrative actions.
    fn admin(&mut self) -> usize {
        let admins: Vec<usize> = (0..self.people.len())
            .filter(|at| self.people[*at].type_id == 2)
            .collect();
        admins[self.rng.index(admins.len())]
    }

    /// An enterprise-managed authorization token request (Authentication, activity 99,
    /// `token_exchange`: the agent exchanges the user's ID token for an ID-JAG).
    pub(super) fn managed_authorization(&mut self, time_ms: i64) -> Value {
        let person = self.rng.index(self.people.len());
        let (client_name, client_id) = self.rng.pick(AI_CLIENTS);
        let (server, audience, scopes, _) = self.rng.pick(MCP_SERVERS);
        let requested: Vec<&str> = scopes
            .iter()
            .copied()
            .filter(|_| self.rng.chance(0.7))
            .collect();
        let requested = if requested.is_empty() {
            vec![scopes[0]]
        } else {
            requested
        };
        let denial = self.failure(EMA_DENIALS);
        let outcomes: Vec<Value> = requested
            .iter()
            .map(|scope| {
                let granted = denial.is_none() && !self.rng.chance(0.05);
                let outcome = if granted { "granted" } else { "denied" };
                object([("scope", (*scope).into()), ("outcome", outcome.into())])
            })
            .collect();
        let outcome = denial.map_or(Outcome::Success, Outcome::Failure);
        let mut event = self.envelope(
            time_ms,
            Class::Authentication,
            99,
            "token_exchange",
            outcome,
        );
        let ip = self.source_ip(false, person);
        put(&mut event, "auth_protocol_id", 6);
        put(&mut event, "auth_protocol", "OAUTH 2.0");
        put(&mut event, "user", self.people[person].user());
        put(
            &mut event,
            "actor",
            object([
                ("app_name", client_name.into()),
                ("app_uid", client_id.into()),
            ]),
        );
        put(
            &mut event,
            "service",
            object([("name", server.into()), ("uid", audience.into())]),
        );
        put(
            &mut event,
            "src_endpoint",
            object([("ip", ip.as_str().into())]),
        );
        let email = self.people[person].email.clone();
        put(
            &mut event,
            "observables",
            observables(email.as_deref(), &ip),
        );
        let algorithm = self.rng.pick(EMA_ALGORITHMS);
        let lifetime_secs = 300;
        let mut details = ObjectMap::new();
        put(
            &mut details,
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:id-jag",
        );
        put(&mut details, "client_id", client_id);
        put(&mut details, "audience", audience);
        put(&mut details, "scopes", Value::Array(outcomes));
        put(
            &mut details,
            "signing_key_id",
            stable_c1_id(self.id_salt, "signing-key", algorithm),
        );
        put(&mut details, "algorithm", algorithm);
        put(&mut details, "lifetime_secs", lifetime_secs);
        if let Outcome::Success = outcome {
            let token_id = self.rng.uuid_v4();
            put(&mut details, "token_id", token_id.as_str());
            put(
                &mut event,
                "session",
                object([
                    ("uid", token_id.into()),
                    ("created_time", time_ms.into()),
                    ("expiration_time", (time_ms + lifetime_secs * 1000).into()),
                    ("issuer", format!("https://{TENANT_HOST}").into()),
                ]),
            );
        }
        put(&mut event, "unmapped", Value::Object(details));
        Value::Object(event)
    }

    /// `ai_tool_call` (assumed name): an AI client's tool call through the C1 gateway.
    pub(super) fn ai_tool_call(&mut self, time_ms: i64) -> Value {
        let person = self.rng.index(self.people.len());
        let (client_name, client_id) = self.rng.pick(AI_CLIENTS);
        let (server, _, _, tools) = self.rng.pick(MCP_SERVERS);
        let tool = self.rng.pick(tools);
        let (result, outcome) = match self.rng.unit() {
            d if d < 0.04 => {
                let reason = self.rng.pick(AI_DENIALS);
                ("denied", Outcome::Failure(reason))
            }
            d if d < 0.06 => ("error", Outcome::Failure("upstream_error")),
            _ => ("success", Outcome::Success),
        };
        let app = [
            ("app_name", client_name.into()),
            ("app_uid", client_id.into()),
        ];
        let actor = self.person_actor(person, &app);
        let ip = self.source_ip(false, person);
        let email = self.people[person].email.clone();
        let mut event = self.product_event(
            time_ms,
            "ai_tool_call",
            outcome,
            actor,
            &ip,
            email.as_deref(),
        );
        let request = object([("uid", self.rng.uuid_v4().into())]);
        put(
            &mut event,
            "api",
            object([
                ("operation", tool.into()),
                ("service", object([("name", server.into())])),
                ("request", request),
            ]),
        );
        put(&mut event, "duration", self.rng.range(40, 4_000));
        let mut details = ObjectMap::new();
        put(&mut details, "mcp_server", server);
        put(&mut details, "tool", tool);
        put(&mut details, "client_id", client_id);
        put(&mut details, "client_name", client_name);
        put(&mut details, "result", result);
        if let Outcome::Failure(reason) = outcome {
            put(&mut details, "denial_reason", reason);
        }
        put(&mut event, "unmapped", Value::Object(details));
        Value::Object(event)
    }

    /// An AI access administration event (assumed names): an admin changes a request,
    /// tool, MCP server, AI client, kill switch or the tenant's defaults.
    pub(super) fn ai_administration(&mut self, time_ms: i64) -> Value {
        let (name, kind) = self.rng.pick(AI_ADMIN_ACTIVITIES);
        let admin = self.admin();
        let (server, _, _, tools) = self.rng.pick(MCP_SERVERS);
        let (client_name, _) = self.rng.pick(AI_CLIENTS);
        let target = match kind {
            "Tool" => self.rng.pick(tools).to_owned(),
            "MCPServer" => server.to_owned(),
            "AIClient" => client_name.to_owned(),
            "AccessRequest" => format!("Task #{}", self.rng.range(1_000, 99_999)),
            "KillSwitch" => format!("{server} kill switch"),
            _ => TENANT_HOST.to_owned(),
        };
        let mut details = ObjectMap::new();
        match name {
            "ai_client_state_changed" => {
                let from = self.rng.index(AI_CLIENT_STATES.len() - 1);
                put(&mut details, "from_state", AI_CLIENT_STATES[from]);
                put(&mut details, "to_state", AI_CLIENT_STATES[from + 1]);
            }
            "ai_kill_switch_flipped" => {
                let level = self.rng.pick(&["tenant", "server", "tool", "client"]);
                put(&mut details, "level", level);
                put(&mut details, "enabled", self.rng.chance(0.5));
            }
            "ai_tool_classification_changed" => {
                let class = self.rng.pick(&["read", "write", "destructive"]);
                put(&mut details, "classification", class);
            }
            _ => {}
        }
        let ip = self.source_ip(false, admin);
        let email = self.people[admin].email.clone();
        let actor = self.person_actor(admin, &[]);
        let mut event = self.product_event(
            time_ms,
            name,
            Outcome::Success,
            actor,
            &ip,
            email.as_deref(),
        );
        let uid = stable_c1_id(self.id_salt, kind, &target);
        let resource = object([
            ("uid", uid.into()),
            ("type", kind.into()),
            ("name", target.into()),
        ]);
        put(&mut event, "resources", Value::Array(vec![resource]));
        if !details.is_empty() {
            put(&mut event, "unmapped", Value::Object(details));
        }
        Value::Object(event)
    }

    /// An automation circuit-breaker event (assumed names): a breaker trips, or an admin
    /// resumes or cancels the paused executions (with a reason).
    pub(super) fn circuit_breaker(&mut self, time_ms: i64) -> Value {
        let resolve = !self.product.tripped.is_empty() && self.rng.chance(0.5);
        let (name, automation, admin) = if resolve {
            let at = self.rng.index(self.product.tripped.len());
            let automation = self.product.tripped.remove(at);
            let name = if self.rng.chance(0.6) {
                "automation_circuit_breaker_resumed"
            } else {
                "automation_circuit_breaker_cancelled"
            };
            (name, automation, Some(self.admin()))
        } else {
            let automation = self.rng.index(AUTOMATIONS.len());
            if !self.product.tripped.contains(&automation) {
                self.product.tripped.push(automation);
            }
            ("automation_circuit_breaker_tripped", automation, None)
        };
        let (title, max_executions, period) = AUTOMATIONS[automation];
        let (actor, ip, email) = match admin {
            Some(admin) => (
                self.person_actor(admin, &[]),
                self.source_ip(false, admin),
                self.people[admin].email.clone(),
            ),
            None => {
                let automations = object([("app_name", "C1 Automations".into())]);
                (automations, String::new(), None)
            }
        };
        let mut event = self.product_event(
            time_ms,
            name,
            Outcome::Success,
            actor,
            &ip,
            email.as_deref(),
        );
        if admin.is_none() {
            // Tripping is the system's doing: a warning, from no client address.
            put(&mut event, "severity_id", 3);
            put(&mut event, "severity", "Medium");
            put(
                &mut event,
                "src_endpoint",
                object([("svc_name", "automations".into())]),
            );
            event.remove("observables");
        }
        let uid = stable_c1_id(self.id_salt, "Automation", title);
        let resource = object([
            ("uid", uid.into()),
            ("type", "Automation".into()),
            ("name", title.into()),
        ]);
        put(&mut event, "resources", Value::Array(vec![resource]));
        let mut details = ObjectMap::new();
        put(&mut details, "max_executions", max_executions);
        put(&mut details, "period", period);
        if name.ends_with("tripped") {
            put(
                &mut details,
                "executions",
                max_executions + self.rng.range(1, 40),
            );
        }
        if name.ends_with("cancelled") {
            put(
                &mut details,
                "reason",
                "sync error changed account statuses in bulk",
            );
        }
        put(&mut event, "unmapped", Value::Object(details));
        if self.untimed_circuit_breaker_events {
            event.remove("time");
        }
        Value::Object(event)
    }
}
