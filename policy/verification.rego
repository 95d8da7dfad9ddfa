# Pavilion verification policy: who may ask which dataset what, for which
# purpose, and what the broker may then reveal.
#
# Compiled to WebAssembly (policy/build.sh) with the entrypoint
# pavilion/verification/decision and evaluated in-process by policy/index.ts.
#
# Input:
#   principal: {sub, roles[], tenant?}
#   action:    "verify" | "link" | "encode_record"
#   dataset:   {id, claims[], allow_broker_encoding, purposes?[] | null}
#   request:   {claims[], purpose, consent?: true | {granted: true, ...}}
# Output (always defined, whatever the input):
#   decision := {allow, reasons[], obligations: {revealable_claims[], min_score, cache_ttl_seconds}}
#
# `reasons` are stable strings (the server puts them in the 403 problem
# document and the audit log); allow == (count(reasons) == 0).
package pavilion.verification

# The purpose table lives here rather than in a data.json so the compiled
# wasm is self-contained: the committed policy/verification.wasm is the whole
# decision, and its hash (policy.version) identifies it in the audit log.
#
# Per purpose:
#   claims            the only claims that purpose may ever reveal (data minimisation,
#                     GDPR Art. 5(1)(c)): an age check learns over_18/over_21, not more.
#   consent_required  the data subject's consent must accompany the request
#                     (background checks for employment need the person's written
#                     authorisation, e.g. US FCRA §604(b)(2)).
#   min_score         Dice threshold below which the broker must not report a match.
#   cache_ttl_seconds how long the broker may reuse the answer.
purposes := {
	"kyc": {
		"claims": {"identity_verified", "name_match", "date_of_birth_match", "address_match", "document_valid", "over_18"},
		"consent_required": false,
		"min_score": 0.9,
		"cache_ttl_seconds": 300,
	},
	"age_verification": {
		"claims": {"over_18", "over_21"},
		"consent_required": false,
		"min_score": 0.85,
		"cache_ttl_seconds": 300,
	},
	"employment_screening": {
		"claims": {"identity_verified", "employment_eligible", "education_verified", "license_valid", "license_class"},
		"consent_required": true,
		"min_score": 0.92,
		"cache_ttl_seconds": 60,
	},
	"license_check": {
		"claims": {"license_valid", "license_class", "license_expiry"},
		"consent_required": false,
		"min_score": 0.85,
		"cache_ttl_seconds": 300,
	},
}

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

default min_score := 0.85

min_score := purposes[input.request.purpose].min_score

default cache_ttl_seconds := 300

cache_ttl_seconds := purposes[input.request.purpose].cache_ttl_seconds

requested_claims := {c | some c in input.request.claims; is_string(c)}

dataset_claims := {c | some c in input.dataset.claims; is_string(c)}

default purpose_claims := set()

purpose_claims := purposes[input.request.purpose].claims

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
	purposes[input.request.purpose].consent_required
	not consent_given
}

reasons contains "broker_encoding_not_allowed" if {
	input.action == "encode_record"
	not broker_encoding_allowed
}

# Asking only for claims the purpose or dataset cannot give would still
# disclose whether the person is in the dataset; refuse instead.
reasons contains "no_revealable_claims" if {
	input.action in claim_revealing_actions
	known_purpose
	count(revealable_claims) == 0
}

allow := count(reasons) == 0

# Nothing is revealable when the request is denied.
released_claims := sort(revealable_claims) if {
	allow
} else := []

decision := {
	"allow": allow,
	"reasons": sort(reasons),
	"obligations": {
		"revealable_claims": released_claims,
		"min_score": min_score,
		"cache_ttl_seconds": cache_ttl_seconds,
	},
}
