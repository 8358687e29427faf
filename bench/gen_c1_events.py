#!/usr/bin/env python3
# Provenance: copied unchanged from the team's shared benchmark workload (shared/bench/gen_c1_events.py)
# so that throughput figures stay comparable with other runs. Do not edit: same seed => same events.
"""Deterministic generator of realistic ConductorOne system-log events (OCSF 1.3 JSON, one per line).

Usage: gen_c1_events.py N [--seed S] [--start-ms T]   -> NDJSON on stdout
Mix: ~80% API Activity (6003), ~12% Authentication (3002), ~8% MCP tool calls (6003, activity 99).
Used as the shared workload for side-by-side throughput runs and as hidden conformance input.
"""
import json, random, sys, uuid, argparse

ap = argparse.ArgumentParser()
ap.add_argument("n", type=int)
ap.add_argument("--seed", type=int, default=7)
ap.add_argument("--start-ms", type=int, default=1767225600000)  # 2026-01-01T00:00:00Z
a = ap.parse_args()
rnd = random.Random(a.seed)

SERVICES = {
    "c1.api.app.v1.Apps": ["Create", "Get", "Update", "Delete", "List"],
    "c1.api.app.v1.AppEntitlements": ["Get", "Update", "List", "ListUsers"],
    "c1.api.requestcatalog.v1.RequestCatalogManagementService": ["AddAppEntitlements", "Create", "Get", "Update"],
    "c1.api.task.v1.TaskService": ["CreateGrantTask", "CreateRevokeTask", "Get"],
    "c1.api.task.v1.TaskActionsService": ["Approve", "Deny", "Comment"],
    "c1.api.user.v1.UserService": ["Get", "List"],
    "c1.api.policy.v1.Policies": ["Create", "Update", "Delete", "Get"],
    "c1.api.serviceprincipal.v1.ServicePrincipalService": ["Create", "CreateCredential", "RevokeCredential"],
}
VERB_ACTIVITY = {"Create": 1, "Add": 1, "Get": 2, "List": 2, "Update": 3, "Approve": 3, "Deny": 3,
                 "Comment": 3, "Delete": 4, "Revoke": 4}
ACT_NAME = {0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}
USERS = [(f"2{''.join(rnd.choice('ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789') for _ in range(26))}",
          n, f"{n.lower().replace(' ', '.')}@acme.example") for n in
         ["Alice Admin", "Bob Builder", "Carol Chen", "Dan Diaz", "Erin Evans", "Frank Fu", "Grace Go", "Heidi Ho"]]
AGENTS = ["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
          "cone/1.14.2 (linux; amd64)", "conductorone-sdk-go/1.26.1", "Terraform/1.9.5 terraform-provider-conductorone/1.3.0",
          "Claude Desktop/0.9 (mcp)"]

def verb_of(op):
    for k, v in VERB_ACTIVITY.items():
        if op.startswith(k):
            return v
    return 99

def ip():
    return f"{rnd.choice([198, 203, 192])}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"

def base(t, class_uid, class_name, cat_uid, cat_name, act):
    status_id = 1 if rnd.random() < 0.95 else 2
    return {
        "activity_id": act, "activity_name": ACT_NAME.get(act, "Other"),
        "category_uid": cat_uid, "category_name": cat_name,
        "class_uid": class_uid, "class_name": class_name,
        "type_uid": class_uid * 100 + act, "type_name": f"{class_name}: {ACT_NAME.get(act, 'Other')}",
        "severity_id": 1, "severity": "Informational",
        "status_id": status_id, "status": "Success" if status_id == 1 else "Failure",
        "time": t,
        "metadata": {"version": "1.3.0", "uid": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
                     "product": {"name": "ConductorOne", "vendor_name": "ConductorOne", "version": "2026.11"},
                     "log_name": "system_log", "logged_time": t + rnd.randint(5, 900)},
    }

t = a.start_ms
out = sys.stdout
for i in range(a.n):
    t += rnd.randint(1, 4000)
    r = rnd.random()
    uid, name, email = rnd.choice(USERS)
    if r < 0.80:
        svc = rnd.choice(list(SERVICES))
        op = rnd.choice(SERVICES[svc])
        act = verb_of(op)
        ev = base(t, 6003, "API Activity", 6, "Application Activity", act)
        ev["actor"] = {"user": {"uid": uid, "name": name, "email_addr": email, "type_id": 1, "type": "User"}}
        ev["api"] = {"operation": f"/{svc}/{op}", "service": {"name": svc},
                     "request": {"uid": str(uuid.UUID(int=rnd.getrandbits(128), version=4))}}
        ev["src_endpoint"] = {"ip": ip()}
        ev["http_request"] = {"user_agent": rnd.choice(AGENTS), "http_method": "POST"}
        ev["resources"] = [{"uid": f"2{rnd.getrandbits(60):x}", "type": svc.split('.')[-1].rstrip('s'),
                            "name": f"resource-{rnd.randint(1, 5000)}"}]
        ev["observables"] = [{"name": "actor.user.email_addr", "type_id": 5, "value": email},
                             {"name": "src_endpoint.ip", "type_id": 2, "value": ev["src_endpoint"]["ip"]}]
        if ev["status_id"] == 2:
            ev["status_detail"] = rnd.choice(["permission_denied", "not_found", "invalid_argument"])
    elif r < 0.92:
        act = 1
        ev = base(t, 3002, "Authentication", 3, "Identity & Access Management", act)
        ev["activity_name"] = rnd.choice(["client_credentials", "token_exchange"])
        ev["auth_protocol"] = "OAUTH 2.0"
        ev["auth_protocol_id"] = 10
        ev["user"] = {"uid": f"{rnd.choice(['clever-fox', 'brave-owl', 'quiet-lynx'])}-{rnd.randint(10000, 99999)}@acme.conductor.one/spc",
                      "type_id": 3, "type": "System"}
        ev["src_endpoint"] = {"ip": ip()}
        ev["service"] = {"name": "ConductorOne"}
        if ev["status_id"] == 2:
            ev["status_detail"] = rnd.choice(["sp_disabled", "token_too_old", "invalid_jwt_format", "issuer_mismatch"])
    else:
        ev = base(t, 6003, "API Activity", 6, "Application Activity", 99)
        ev["activity_name"] = "mcp_tool_call"
        ev["actor"] = {"user": {"uid": uid, "name": name, "email_addr": email, "type_id": 1}}
        ev["api"] = {"operation": "mcp_tool_call", "request": {"uid": str(uuid.UUID(int=rnd.getrandbits(128), version=4))}}
        ev["src_endpoint"] = {"ip": ip()}
        ev["http_request"] = {"user_agent": AGENTS[-1]}
        ev["unmapped"] = {"tool_name": rnd.choice(["find_api_objects", "get_user", "list_grants"]),
                          "object_type": rnd.choice(["User", "App", "Grant"]),
                          "result_count": rnd.randint(0, 200), "duration_ms": rnd.randint(3, 900)}
    out.write(json.dumps(ev, separators=(",", ":")))
    out.write("\n")
