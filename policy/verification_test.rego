# Unit tests for verification.rego: one allow case per action and purpose,
# and each deny reason on its own, with the committed purposes
# (policy/bundle/data.json) and with purposes given as other data. Run with
# `opa test policy/verification.rego policy/verification_test.rego policy/bundle/data.json`
# (policy/check.sh does).
package pavilion.verification_test

import data.pavilion.verification

rp := {"sub": "acme-bank", "roles": ["rp"]}

dataset := {
	"id": "dmv-2026",
	"claims": ["over_18", "over_21", "license_valid", "license_class", "identity_verified", "name_match"],
	"allow_broker_encoding": false,
}

base := {
	"principal": rp,
	"action": "verify",
	"dataset": dataset,
	"request": {"claims": ["over_21"], "purpose": "age_verification"},
}

decide(input_doc) := d if {
	d := verification.decision with input as input_doc
}

# The decision for the base input with this request.
asking(request) := decide(object.union(base, {"request": request}))

test_age_verification_reveals_only_age_claims if {
	d := asking({"claims": ["over_18", "over_21", "name_match", "license_valid"], "purpose": "age_verification"})
	d.allow == true
	d.reasons == []
	d.obligations.revealable_claims == ["over_18", "over_21"]
	d.obligations.min_score == 0.85
	d.obligations.cache_ttl_seconds == 300
}

test_license_check_allowed if {
	d := asking({"claims": ["license_valid", "license_expiry"], "purpose": "license_check"})
	d.allow

	# license_expiry is allowed by the purpose but the dataset does not hold it.
	d.obligations.revealable_claims == ["license_valid"]
}

test_kyc_has_higher_min_score if {
	d := asking({"claims": ["identity_verified", "over_21"], "purpose": "kyc"})
	d.allow
	d.obligations.revealable_claims == ["identity_verified"]
	d.obligations.min_score == 0.9
}

test_employment_screening_with_consent if {
	d := asking({"claims": ["identity_verified", "license_valid"], "purpose": "employment_screening", "consent": true})
	d.allow
	d.obligations.min_score == 0.92
	d.obligations.cache_ttl_seconds == 60
	d.obligations.revealable_claims == ["identity_verified", "license_valid"]
}

test_employment_screening_with_consent_record if {
	d := asking({
		"claims": ["identity_verified"],
		"purpose": "employment_screening",
		"consent": {"granted": true, "reference": "c-77"},
	})
	d.allow
}

test_employment_screening_without_consent_denied if {
	d := asking({"claims": ["identity_verified"], "purpose": "employment_screening"})
	not d.allow
	d.reasons == ["consent_required"]
	d.obligations.revealable_claims == []
}

test_consent_false_or_not_granted_denied if {
	every consent in [false, "yes", {"granted": false}, {}] {
		d := asking({"claims": ["identity_verified"], "purpose": "employment_screening", "consent": consent})
		d.reasons == ["consent_required"]
	}
}

test_only_rp_may_verify_or_link if {
	every role in ["dp", "auditor", "admin"] {
		every action in ["verify", "link", "encode_record"] {
			d := decide(object.union(base, {
				"action": action,
				"principal": {"sub": "x", "roles": [role]},
				"dataset": object.union(dataset, {"allow_broker_encoding": true}),
			}))
			d.reasons == ["role_not_permitted"]
		}
	}
}

test_rp_among_other_roles_is_enough if {
	decide(object.union(base, {"principal": {"sub": "x", "roles": ["admin", "rp"]}})).allow
}

test_no_roles_denied if {
	decide(object.union(base, {"principal": {"sub": "x", "roles": []}})).reasons == ["role_not_permitted"]
}

test_link_allowed_without_claims if {
	d := decide(object.union(base, {"action": "link", "request": {"claims": [], "purpose": "kyc"}}))
	d.allow
	d.obligations.revealable_claims == []
	d.obligations.min_score == 0.9
}

test_unknown_purpose_denied if {
	d := asking({"claims": ["over_18"], "purpose": "marketing"})
	d.reasons == ["purpose_unknown"]
	d.obligations.min_score == 0.85
	d.obligations.cache_ttl_seconds == 300
}

test_missing_purpose_denied if {
	no_purpose := {"principal": rp, "action": "verify", "dataset": dataset, "request": {"claims": ["over_18"]}}
	decide(no_purpose).reasons == ["purpose_unknown"]
	no_request := {"principal": rp, "action": "verify", "dataset": dataset}
	decide(no_request).reasons == ["purpose_unknown", "request_invalid"]
}

test_dataset_purpose_restriction if {
	restricted := object.union(dataset, {"purposes": ["license_check"]})
	d := decide(object.union(base, {"dataset": restricted}))
	d.reasons == ["purpose_not_permitted_by_dataset"]
	license_check := {"claims": ["license_valid"], "purpose": "license_check"}
	decide(object.union(base, {"dataset": restricted, "request": license_check})).allow
}

test_dataset_purposes_null_means_unrestricted if {
	decide(object.union(base, {"dataset": object.union(dataset, {"purposes": null})})).allow
}

test_broker_encoding_only_when_dataset_allows if {
	denied := decide(object.union(base, {"action": "encode_record"}))
	denied.reasons == ["broker_encoding_not_allowed"]
	encoding_allowed := object.union(dataset, {"allow_broker_encoding": true})
	allowed := decide(object.union(base, {"action": "encode_record", "dataset": encoding_allowed}))
	allowed.allow
	allowed.obligations.revealable_claims == ["over_21"]
}

test_broker_encoding_flag_must_be_true_not_truthy if {
	truthy := object.union(dataset, {"allow_broker_encoding": "true"})
	d := decide(object.union(base, {"action": "encode_record", "dataset": truthy}))
	d.reasons == ["broker_encoding_not_allowed"]
}

test_no_revealable_claims_denied if {
	d := asking({"claims": ["name_match"], "purpose": "age_verification"})
	d.reasons == ["no_revealable_claims"]

	# What would be allowed: the claims age_verification may reveal from this dataset.
	d.permitted.claims == ["over_18", "over_21"]
}

test_no_claims_is_a_match_only_question if {
	d := asking({"claims": [], "purpose": "age_verification"})
	d.allow
	d.obligations.revealable_claims == []

	# Consent and the dataset's purposes still apply.
	asking({"claims": [], "purpose": "employment_screening"}).reasons == ["consent_required"]
}

test_unknown_action_denied if {
	decide(object.union(base, {"action": "delete_everything"})).reasons == ["action_unknown"]
}

test_invalid_principal_denied if {
	d := decide(object.union(base, {"principal": {"sub": "", "roles": ["rp"]}}))
	d.reasons == ["principal_invalid"]
}

test_empty_input_is_denied_with_every_applicable_reason if {
	d := decide({})
	not d.allow
	d.reasons == ["action_unknown", "principal_invalid", "purpose_unknown", "request_invalid"]
	d.obligations == {"revealable_claims": [], "min_score": 0.85, "cache_ttl_seconds": 300}
	d.permitted == {"purposes": ["age_verification", "employment_screening", "kyc", "license_check"], "claims": []}
}

test_reasons_accumulate_sorted if {
	d := decide({
		"principal": {"sub": "x", "roles": ["dp"]},
		"action": "encode_record",
		"dataset": object.union(dataset, {"purposes": ["kyc"]}),
		"request": {"claims": ["identity_verified"], "purpose": "employment_screening"},
	})
	d.reasons == [
		"broker_encoding_not_allowed",
		"consent_required",
		"purpose_not_permitted_by_dataset",
		"role_not_permitted",
	]
}

test_non_string_claims_ignored if {
	d := asking({"claims": [1, {"a": 1}, "over_18"], "purpose": "age_verification"})
	d.obligations.revealable_claims == ["over_18"]
}

test_unknown_purpose_lists_the_valid_ones if {
	d := asking({"claims": ["over_18"], "purpose": "marketing"})
	d.permitted.purposes == ["age_verification", "employment_screening", "kyc", "license_check"]
	d.permitted.claims == []
	restricted := decide(object.union(base, {"dataset": object.union(dataset, {"purposes": ["license_check", "gone"]})}))
	restricted.reasons == ["purpose_not_permitted_by_dataset"]
	restricted.permitted.purposes == ["license_check"]
}

# ---- the purposes are data: a bundle's data.json, not the Rego

fraud_check := {
	"claims": ["identity_verified", "name_match"],
	"consent_required": true,
	"min_score": 0.95,
	"cache_ttl_seconds": 0,
}

test_a_purpose_added_as_data_is_served if {
	more := object.union(data.pavilion.purposes, {"fraud_check": fraud_check})
	request := {"claims": ["name_match", "over_18"], "purpose": "fraud_check", "consent": true}
	d := decide(object.union(base, {"request": request})) with data.pavilion.purposes as more
	d.allow
	d.obligations == {"revealable_claims": ["name_match"], "min_score": 0.95, "cache_ttl_seconds": 0}
	without := decide(object.union(base, {"request": request}))
	without.reasons == ["purpose_unknown"]
}

test_changed_data_changes_claims_scores_and_consent if {
	changed := object.union(data.pavilion.purposes, {"age_verification": {
		"claims": ["over_21"],
		"consent_required": true,
		"min_score": 0.8,
		"cache_ttl_seconds": 10,
	}})
	req := {"claims": ["over_18", "over_21"], "purpose": "age_verification"}
	asking(req).reasons == ["consent_required"] with data.pavilion.purposes as changed
	d := asking(object.union(req, {"consent": true})) with data.pavilion.purposes as changed
	d.obligations == {"revealable_claims": ["over_21"], "min_score": 0.8, "cache_ttl_seconds": 10}
}

test_no_purposes_in_data_denies_everything if {
	decide(base).reasons == ["purpose_unknown"] with data.pavilion.purposes as {}
	decide(base).permitted.purposes == [] with data.pavilion.purposes as {}
}

# ---- dataset definitions

check(ds) := r if {
	r := verification.dataset_check with input as {"dataset": ds}
}

test_dataset_check_names_what_the_policy_never_allows if {
	check({"claims": ["over_18", "license_valid"]}) == {"unknown_purposes": [], "unreleasable_claims": []}
	check({"claims": ["over_18", "ssn", "favourite_colour"]}).unreleasable_claims == ["favourite_colour", "ssn"]

	# Restricted to age_verification, license claims can never be released.
	restricted := check({"claims": ["over_18", "license_valid"], "purposes": ["age_verification", "marketing"]})
	restricted == {"unknown_purposes": ["marketing"], "unreleasable_claims": ["license_valid"]}
	check({"claims": ["fraud_flag"], "purposes": null}).unreleasable_claims == ["fraud_flag"]
	check({"claims": ["name_match"], "purposes": ["fraud_check"]}).unknown_purposes == ["fraud_check"]
	fraud_check_spec := {"claims": ["name_match"], "purposes": ["fraud_check"]}
	added := check(fraud_check_spec) with data.pavilion.purposes.fraud_check as fraud_check
	added == {"unknown_purposes": [], "unreleasable_claims": []}
}

# ---- the catalogue GET /v1/policy serves

test_catalogue_lists_purposes_and_actions if {
	c := verification.catalogue
	c.purposes.kyc == {
		"claims": ["address_match", "date_of_birth_match", "document_valid", "identity_verified", "name_match", "over_18"],
		"consent_required": false,
		"min_score": 0.9,
		"cache_ttl_seconds": 300,
		"description": "Know-your-customer identity verification.",
	}
	c.purposes.employment_screening.consent_required == true
	c.actions == {"encode_record": ["rp"], "link": ["rp"], "verify": ["rp"]}
	verification.catalogue.purposes.fraud_check.description == "" with data.pavilion.purposes.fraud_check as fraud_check
}
