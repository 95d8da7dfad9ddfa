# Pavilion verification policy: who may ask which dataset what, for which
# purpose, and what the broker may then reveal.
#
# Compiled to WebAssembly (policy/build.sh) and shipped as an OPA bundle
# (policy/bundle/: .manifest, data.json, policy.wasm), evaluated in-process by
# policy/index.ts. The rules live here; the purposes they apply live in the
# bundle's data.json under data.pavilion.purposes, so an operator changes
# purposes, claims, minimum scores and consent without rebuilding the wasm
# (docs/policy.md).
#
# Data (data.pavilion.purposes.<purpose>):
#   claims            the only claims that purpose may ever reveal (data minimisation,
#                     GDPR Art. 5(1)(c)): an age check learns over_18/over_21, not more.
#   consent_required  the data subject's consent must accompany the request.
#   min_score         Dice threshold below which the broker must not report a match.
#   cache_ttl_seconds how long the broker may reuse the answer.
#   description       optional text for GET /v1/policy.
#
# Entrypoints:
#   decision       input {principal: {sub, roles[], tenant?}, action: "verify" | "link" | "encode_record",
#                         dataset: {id, claims[], allow_broker_encoding, purposes?[] | null},
#                         request: {claims[], purpose, consent?: true | {granted: true, ...}}}
#                  → {allow, reasons[], obligations: {revealable_claims[], min_score, cache_ttl_seconds},
#                     permitted: {purposes[], claims[]}}   (always defined, whatever the input)
#   dataset_check  input {dataset: {claims[], purposes?[] | null}}
#                  → {unknown_purposes[], unreleasable_claims[]}
#   catalogue      → {purposes: {<name>: {claims[], consent_required, min_score, cache_ttl_seconds, description}},
#                     actions: {<action>: [roles]}}
#
# `reasons` are stable strings (the server puts them in the 403 problem
# document and the audit log); allow == (count(reasons) == 0). `permitted`
# says what would be allowed: the purposes this dataset may be asked for,
# and the claims the requested purpose may reveal from it.
package pavilion.verification

# A bundle without data.pavilion.purposes knows no purpose: every request is denied.
default purposes := {}

purposes := data.pavilion.purposes if is_object(data.pavilion.purposes)

# Roles that may perform each action. Only relying parties ask questions
# about people; a DP, auditor or admin token cannot (separation of duties).
# encode_record is a verification whose record arrives as raw PII for the
# broker to encode, so it is an RP action too.
action_roles := {
	"verify": {"rp"},
	"link": {"rp"},
	"encode_record": {"rp"},
}

# Actions whose answer discloses claims about one person.
claim_revealing_actions := {"verify", "encode_record"}

# Obligations of a request whose purpose is unknown (it is denied anyway).
default min_score := 0.85

min_score := purposes[input.request.purpose].min_score

default cache_ttl_seconds := 300

cache_ttl_seconds := purposes[input.request.purpose].cache_ttl_seconds

requested_claims := {c | some c in input.request.claims; is_string(c)}

dataset_claims := {c | some c in input.dataset.claims; is_string(c)}

claims_of(purpose) := {c | some c in purposes[purpose].claims; is_string(c)}

default purpose_claims := set()

purpose_claims := claims_of(input.request.purpose)

revealable_claims := (requested_claims & dataset_claims) & purpose_claims

valid_principal if {
	is_string(input.principal.sub)
	input.principal.sub != ""
	is_array(input.principal.roles)
}

valid_request if {
	is_string(input.dataset.id)
	is_array(input.dataset.claims)
	is_array(input.request.claims)
}

holds_permitted_role if {
	some role in input.principal.roles
	action_roles[input.action][role]
}

consent_given if input.request.consent == true

consent_given if input.request.consent.granted == true

broker_encoding_allowed if input.dataset.allow_broker_encoding == true

reasons contains "principal_invalid" if not valid_principal

reasons contains "request_invalid" if not valid_request

# Membership tests go through helper rules: `not action_roles[input.action]`
# would be undefined (not true) when input.action itself is missing, because
# OPA evaluates the reference's operand outside the negation.
known_action if action_roles[input.action]

known_purpose if purposes[input.request.purpose]

reasons contains "action_unknown" if not known_action

reasons contains "role_not_permitted" if {
	known_action
	not holds_permitted_role
}

reasons contains "purpose_unknown" if not known_purpose

# A dataset may restrict the purposes it serves; null or absent means any known purpose.
reasons contains "purpose_not_permitted_by_dataset" if {
	known_purpose
	is_array(input.dataset.purposes)
	not input.request.purpose in input.dataset.purposes
}

reasons contains "consent_required" if {
	purposes[input.request.purpose].consent_required == true
	not consent_given
}

reasons contains "broker_encoding_not_allowed" if {
	input.action == "encode_record"
	not broker_encoding_allowed
}

# Asking for claims when none of them can be given is refused, rather than
# answered with a bare match the caller did not ask for. Asking for no
# claims at all (`claims: []`, the API's default) is a match-only question:
# it reveals less than any request with claims, and is allowed.
reasons contains "no_revealable_claims" if {
	input.action in claim_revealing_actions
	known_purpose
	count(requested_claims) > 0
	count(revealable_claims) == 0
}

allow := count(reasons) == 0

# Nothing is revealable when the request is denied.
released_claims := sort(revealable_claims) if {
	allow
} else := []

# What would be allowed: the known purposes this dataset serves, and the
# claims the requested purpose could reveal from it. Names only, never values.
dataset_purposes := {p | some p in input.dataset.purposes; purposes[p]} if {
	is_array(input.dataset.purposes)
} else := {p | some p, _ in purposes}

permitted := {
	"purposes": sort(dataset_purposes),
	"claims": sort(dataset_claims & purpose_claims),
}

decision := {
	"allow": allow,
	"reasons": sort(reasons),
	"obligations": {
		"revealable_claims": released_claims,
		"min_score": min_score,
		"cache_ttl_seconds": cache_ttl_seconds,
	},
	"permitted": permitted,
}

# ---- dataset definitions

# A dataset's claims that no purpose it serves may ever reveal would be
# dropped from every answer: the definition is refused instead, naming them.
check_purposes := {p | some p in input.dataset.purposes; is_string(p)} if {
	is_array(input.dataset.purposes)
} else := {p | some p, _ in purposes}

releasable_claims := {c | some p in check_purposes; some c in claims_of(p)}

dataset_check := {
	"unknown_purposes": sort({p | some p in check_purposes; not purposes[p]}),
	"unreleasable_claims": sort(dataset_claims - releasable_claims),
}

# ---- what GET /v1/policy shows

catalogue := {
	"purposes": {name: entry |
		some name, p in purposes
		entry := {
			"claims": sort(claims_of(name)),
			"consent_required": p.consent_required == true,
			"min_score": p.min_score,
			"cache_ttl_seconds": p.cache_ttl_seconds,
			"description": object.get(p, "description", ""),
		}
	},
	"actions": {action: sort(roles) | some action, roles in action_roles},
}
