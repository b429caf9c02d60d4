package primero

import (
	"net/http"
	"sort"
)

// Modules the simulator knows; module_id must be one of them.
var modules = map[string]bool{"primeromodule-cp": true, "primeromodule-gbv": true, "primeromodule-mrm": true}

// caseFields are the case fields of the CP forms the simulator accepts on
// POST/PATCH, including every field the Cambodia jobs write (openfn-jobs.md
// §6.3). Anything else is rejected the way Primero's JSON schema does
// (additionalProperties: false).
var caseFields = []string{
	// identification and system fields a client may echo back
	"id", "case_id", "case_id_display", "short_id", "unique_identifier", "record_state", "status", "workflow",
	"module_id", "owned_by", "owned_by_agency_id", "owned_by_groups", "assigned_user_names", "associated_user_names",
	"created_at", "created_by", "created_organization", "last_updated_at", "last_updated_by", "registration_date",
	"enabled", "reopened_logs", "case_status_reopened", "record_in_scope", "alert_count", "flag_count",
	"referred_users", "referred_users_present", "transfer_status", "reassigned_transferred_on",
	// basic identity
	"name", "name_first", "name_middle", "name_last", "name_nickname", "name_other", "name_given_post_separation",
	"sex", "age", "date_of_birth", "estimated", "nationality", "ethnicity", "language", "religion",
	"location_current", "address_current", "address_last", "location_last", "telephone_current",
	"interview_subject", "consent_for_services", "disclosure_other_orgs", "consent_reporting",
	"risk_level", "protection_status", "protection_concerns", "displacement_status", "urgent_protection_concern",
	"child_status", "date_closure", "reason_closed",
	// Cambodia / OSCaR interoperability
	"oscar_number", "oscar_short_id", "oscar_status", "oscar_reason_for_exiting", "mosvy_number",
	"referral_status_edf41f2", "oscar_referral_id_a4ac8a5",
	// subforms
	"services_section", "family_details_section", "notes_section", "followup_subform_section",
	"protection_concern_detail_subform_section", "closure_subform_section",
}

// booleanFields must be JSON booleans; integerFields integers; dateFields
// ISO dates (YYYY-MM-DD).
var (
	booleanFields = map[string]bool{"record_state": true, "consent_for_services": true, "disclosure_other_orgs": true,
		"estimated": true, "consent_reporting": true, "urgent_protection_concern": true, "enabled": true,
		"case_status_reopened": true}
	integerFields = map[string]bool{"age": true}
	dateFields    = map[string]bool{"date_of_birth": true, "registration_date": true, "date_closure": true}
)

func permittedSet(extra []string) map[string]bool {
	m := map[string]bool{}
	for _, f := range caseFields {
		m[f] = true
	}
	for _, f := range extra {
		m[f] = true
	}
	return m
}

// PermittedFields lists the case fields this server accepts, sorted.
func (s *Server) PermittedFields() []string {
	out := make([]string, 0, len(s.permitted))
	for f := range s.permitted {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func (s *Server) catalog(rq *request, what string) {
	var data []any
	switch what {
	case "forms":
		data = forms()
	case "lookups":
		data = lookups()
	case "locations":
		data = locations()
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{"data": data,
		"metadata": map[string]any{"total": len(data), "per": len(data), "page": 1}})
}

func en(s string) map[string]any { return map[string]any{"en": s} }

func opt(id, label string) map[string]any { return map[string]any{"id": id, "display_text": en(label)} }

func forms() []any {
	field := func(name, typ, label string, extra map[string]any) map[string]any {
		f := map[string]any{"name": name, "type": typ, "display_name": en(label), "visible": true, "editable": true}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	return []any{
		map[string]any{
			"id": 1, "unique_id": "basic_identity", "parent_form": "case", "module_ids": []any{"primeromodule-cp"},
			"name": en("Basic Identity"), "visible": true, "is_nested": false, "form_group_id": "identification_registration",
			"fields": []any{
				field("case_id_display", "text_field", "Case ID", map[string]any{"editable": false}),
				field("name_first", "text_field", "First Name", nil),
				field("name_last", "text_field", "Surname", nil),
				field("sex", "select_box", "Sex", map[string]any{"option_strings_source": "lookup lookup-gender"}),
				field("age", "numeric_field", "Age", nil),
				field("date_of_birth", "date_field", "Date of Birth", nil),
				field("location_current", "select_box", "Current Location", map[string]any{"option_strings_source": "Location"}),
				field("oscar_number", "text_field", "OSCaR Number", nil),
				field("mosvy_number", "text_field", "MoSVY Number", nil),
			},
		},
		map[string]any{
			"id": 2, "unique_id": "services", "parent_form": "case", "module_ids": []any{"primeromodule-cp"},
			"name": en("Services"), "visible": true, "is_nested": false, "form_group_id": "services_follow_up",
			"fields": []any{
				field("services_section", "subform", "Services", map[string]any{"subform_section_unique_id": "services_section"}),
			},
		},
		map[string]any{
			"id": 3, "unique_id": "services_section", "parent_form": "case", "module_ids": []any{"primeromodule-cp"},
			"name": en("Nested Services"), "visible": false, "is_nested": true,
			"fields": []any{
				field("service_response_type", "select_box", "Type of Response", map[string]any{"option_strings_source": "lookup lookup-service-response-type"}),
				field("service_type", "select_box", "Type of Service", map[string]any{"option_strings_source": "lookup lookup-service-type"}),
				field("service_subtype", "select_box", "Service Subtype", map[string]any{"multi_select": true}),
				field("service_implementing_agency", "select_box", "Implementing Agency", map[string]any{"option_strings_source": "Agency"}),
				field("referral_status_edf41f2", "select_box", "Referral Status", map[string]any{"option_strings_source": "lookup lookup-referral-status"}),
				field("oscar_referral_id_a4ac8a5", "text_field", "OSCaR Referral ID", nil),
			},
		},
	}
}

func lookups() []any {
	return []any{
		map[string]any{"id": 1, "unique_id": "lookup-gender", "name": en("Sex"),
			"values": []any{opt("male", "Male"), opt("female", "Female"), opt("other", "Other")}},
		map[string]any{"id": 2, "unique_id": "lookup-service-response-type", "name": en("Service Response Type"),
			"values": []any{
				opt("care_plan", "Care plan"), opt("action_plan", "Action plan"),
				opt("service_provision", "Service provision"),
				opt("referral_to_oscar", "Referral to OSCaR"), opt("referral_from_oscar", "Referral from OSCaR"),
				opt("service_being_provided_by_oscar_partner_47618", "Service being provided by OSCaR partner"),
			}},
		map[string]any{"id": 3, "unique_id": "lookup-referral-status", "name": en("Referral Status"),
			"values": []any{opt("pending_310366", "Pending"), opt("accepted_340953", "Accepted"), opt("rejected_936484", "Rejected")}},
		map[string]any{"id": 4, "unique_id": "lookup-service-type", "name": en("Service Type"),
			"values": []any{
				opt("social_work_case_work", "Social work / case work"), opt("family_based_care", "Family based care"),
				opt("mental_health_support", "Mental health support"), opt("legal_support", "Legal support"),
				opt("medical_support", "Medical support"), opt("training_education", "Training / education"),
				opt("Other", "Other"),
			}},
	}
}

func locations() []any {
	loc := func(id int, code, name string, typ string, level int, parent string) map[string]any {
		m := map[string]any{"id": id, "code": code, "type": typ, "admin_level": level, "name": en(name),
			"disabled": false}
		if parent != "" {
			m["parent_code"] = parent
		}
		return m
	}
	return []any{
		loc(1, "KH", "Cambodia", "country", 0, ""),
		loc(2, "KH12", "Phnom Penh", "province", 1, "KH"),
		loc(3, "KH02", "Battambang", "province", 1, "KH"),
		loc(4, "KH0204", "Ek Phnom", "district", 2, "KH02"),
		loc(5, "KH020403", "Prek Luong", "commune", 3, "KH0204"),
		loc(6, "KH02040302", "Prek Luong Village", "village", 4, "KH020403"),
	}
}
