#!/bin/sh
# Runs one example once, by hand, against the simulators (bin/jmsim) on their
# default ports, then prints what reached the target system. Usage (from the
# repository root, after `make build jmsim`; `make example NAME=…` does both):
#
#   examples/run.sh fhir-to-dhis2
#
# Each simulator is started here and stopped when the script exits (also on
# Ctrl-C), so nothing keeps running afterwards. The jobs read
# examples/NAME/credentials.example.yaml, which points at these ports.
set -eu
name=${1:-}
bin=${BIN:-bin/jobmediator}
jmsim=${JMSIM:-bin/jmsim}
dir=examples/$name
if [ -z "$name" ] || [ ! -f "$dir/project.yaml" ]; then
	echo "usage: make example NAME=<example>   (one of: $(cd examples && ls -d */ | tr -d / | tr '\n' ' '))" >&2
	exit 2
fi

pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# sim NAME URL [FLAGS…]: start a simulator and wait until URL answers.
sim() {
	s=$1 url=$2
	shift 2
	"$jmsim" "$s" "$@" >"${TMPDIR:-/tmp}/jmsim-$s.$$.log" 2>&1 &
	pids="$pids $!"
	i=0
	until curl -s -o /dev/null "$url"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$!" 2>/dev/null; then
			echo "jmsim $s did not start:" >&2
			cat "${TMPDIR:-/tmp}/jmsim-$s.$$.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "started jmsim $s ($url)"
}

# job [ARGS…]: run the example's workflow once; the final state goes to
# $out, the job's log and outbound calls to the terminal.
out=${TMPDIR:-/tmp}/example-$name.$$.json
job() {
	echo "running $dir/project.yaml …"
	"$bin" run "$dir/project.yaml" --credentials "$dir/credentials.example.yaml" -o "$out" "$@"
}

show() {
	echo
	echo "== $1"
	shift
	curl -s --fail-with-body "$@"
	echo
}

case $name in
hello-upstream)
	sim records http://127.0.0.1:4010/records
	job -s "$dir/testdata/state.json"
	show "records the upstream stored (GET /records)" http://127.0.0.1:4010/records
	;;
fhir-to-dhis2)
	sim dhis2 http://127.0.0.1:4020/api/system/info
	job -s "$dir/testdata/state.json"
	show "DHIS2 data values for January 2024, data set pBOMPrpg1QX, Ngelehun CHC" -u admin:district \
		'http://127.0.0.1:4020/api/dataValueSets?dataSet=pBOMPrpg1QX&period=202401&orgUnit=DiszpKrYNg8'
	;;
dhis2-to-fhir)
	pat=d2pat_exampleTokenForTheDhis2Simulator0000000001
	sim dhis2 http://127.0.0.1:4020/api/system/info --token "$pat"
	sim fhir http://127.0.0.1:4030/fhir/metadata --token fhir-example-bearer-token-42
	echo "seeding DHIS2 with $dir/testdata/tracked-entities.json"
	curl -s -o /dev/null --fail-with-body -H "Authorization: ApiToken $pat" -H 'Content-Type: application/json' \
		--data-binary "@$dir/testdata/tracked-entities.json" \
		'http://127.0.0.1:4020/api/tracker?async=false&importStrategy=CREATE_AND_UPDATE'
	job
	show "FHIR Patients (GET /fhir/Patient)" -H 'Authorization: Bearer fhir-example-bearer-token-42' \
		'http://127.0.0.1:4030/fhir/Patient?_elements=name,gender,birthDate,identifier'
	;;
cambodia-referrals)
	# An NGO in OSCaR refers a child to MoSVY; the hourly sync makes it a
	# Primero case (flow 2 of primero-oscar-sync).
	sim primero http://127.0.0.1:4040/api/v2/cases
	sim oscar http://127.0.0.1:4050/api/v1/organizations --seed "$dir/testdata/oscar-clients.json"
	sim records http://127.0.0.1:4010/records # the catch jobs' inbox
	job --workflow primero-oscar-sync
	show "Primero cases (GET /api/v2/cases)" -u openfn:openfn-password 'http://127.0.0.1:4040/api/v2/cases?fields=short'
	;;
postgres-to-dhis2)
	# A throwaway database on the local PostgreSQL (127.0.0.1:5432, trust
	# auth, as make test needs), recreated on every run.
	pat=d2pat_exampleTokenForTheDhis2Simulator0000000002
	psql -q -h 127.0.0.1 -U postgres -d test -c 'DROP DATABASE IF EXISTS jm_example_clinical' -c 'CREATE DATABASE jm_example_clinical'
	psql -q -h 127.0.0.1 -U postgres -d jm_example_clinical -f "$dir/testdata/setup.sql"
	echo "created database jm_example_clinical ($dir/testdata/setup.sql)"
	sim dhis2 http://127.0.0.1:4020/api/system/info --token "$pat" --metadata "$dir/testdata/metadata.json"
	job --now 2024-06-15T02:30:00Z
	show "DHIS2 health visits, April to June 2024, Saint Lucia" -H "Authorization: ApiToken $pat" \
		'http://127.0.0.1:4020/api/dataValueSets?dataSet=lcHvDataSt1&startDate=2024-04-01&endDate=2024-06-30&orgUnit=LcSaintLuc1&children=true'
	;;
primero-to-postgres)
	psql -q -h 127.0.0.1 -U postgres -d test -c 'DROP DATABASE IF EXISTS jm_example_reporting' -c 'CREATE DATABASE jm_example_reporting'
	echo "created database jm_example_reporting (the job creates its table)"
	sim primero http://127.0.0.1:4040/api/v2/cases --seed "$dir/testdata/cases.json"
	job
	echo
	echo "== the anonymised reporting table (SELECT * FROM case_report)"
	psql -P pager=off -h 127.0.0.1 -U postgres -d jm_example_reporting -c 'SELECT * FROM case_report ORDER BY 1'
	;;
primero-v1-oscar)
	# Case c-1 has a service referred to OSCaR; c-3 has none.
	sim primero http://127.0.0.1:4040/api/v2/cases --seed "$dir/testdata/cases.json"
	sim oscar http://127.0.0.1:4050/api/v1/organizations
	sim records http://127.0.0.1:4010/records # the catch job's inbox
	job
	show "Primero cases after the run (c-1's service now carries its OSCaR referral)" -u openfn:openfn-password \
		'http://127.0.0.1:4040/api/v2/cases'
	;;
*)
	echo "$name has no simulator run yet: see $dir/README.md" >&2
	exit 2
	;;
esac
echo
echo "== final state: $out"
