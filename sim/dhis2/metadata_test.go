package dhis2

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMetadataListAndPager(t *testing.T) {
	s := startSim(t, Options{})
	r := get(t, s, "/api/organisationUnits?fields=id,code")
	if r.code != 200 {
		t.Fatalf("%d %s", r.code, r.raw)
	}
	// The shape of the adapter fixture, plus DHIS2's pager.
	assertShape(t, "organisationUnits", sharedJSON(t, "adapter-organisationUnits-page.json"), r.body)
	p := at(r.body, "pager")
	if num(at(p, "page")) != 1 || num(at(p, "pageCount")) != 1 || num(at(p, "total")) != 7 || num(at(p, "pageSize")) != 50 {
		t.Errorf("pager %v", p)
	}
	if _, ok := p.(map[string]any)["nextPage"]; ok {
		t.Error("nextPage on the last page")
	}

	r = get(t, s, "/api/organisationUnits?pageSize=3&page=2&order=code:asc")
	p = at(r.body, "pager")
	if num(at(p, "page")) != 2 || num(at(p, "pageCount")) != 3 || num(at(p, "total")) != 7 {
		t.Errorf("pager %v", p)
	}
	next, _ := at(p, "nextPage").(string)
	prev, _ := at(p, "prevPage").(string)
	if !strings.HasPrefix(next, s.URL()+"/api/organisationUnits?") || !strings.Contains(next, "page=3") || !strings.Contains(prev, "page=1") {
		t.Errorf("nextPage %q prevPage %q", next, prev)
	}
	// Following nextPage works.
	r2 := call(t, s, "GET", strings.TrimPrefix(next, s.URL()), nil, adminAuth)
	if l := at(r2.body, "organisationUnits").([]any); len(l) != 1 {
		t.Errorf("last page %s", r2.raw)
	}
	// Default fields are id and displayName.
	if o := at(r.body, "organisationUnits", 0).(map[string]any); len(o) != 2 || o["displayName"] == nil {
		t.Errorf("default fields %v", o)
	}
	r = get(t, s, "/api/organisationUnits?paging=false")
	if _, ok := r.obj(t)["pager"]; ok || len(at(r.body, "organisationUnits").([]any)) != 7 {
		t.Errorf("paging=false %s", r.raw)
	}
}

func TestMetadataFilters(t *testing.T) {
	s := startSim(t, Options{})
	for _, tc := range []struct {
		query string
		ids   string
	}{
		{"organisationUnits?filter=code:eq:OU_559", "[DiszpKrYNg8]"},
		{"organisationUnits?filter=identifiable:token:ngelehun", "[DiszpKrYNg8]"},
		{"organisationUnits?filter=identifiable:token:OU_264", "[O6uvpzGd5pu]"},
		{"organisationUnits?filter=path:like:YuQRtpLP10I&filter=level:eq:4", "[DiszpKrYNg8 g8upMTyEZGZ y77LiPqLMoq]"},
		{"organisationUnits?filter=parent.id:eq:ImspTQPwCqd", "[O6uvpzGd5pu PSeMWi7rBgb]"},
		{"organisationUnits?filter=code:in:[OU_559,OU_264]", "[O6uvpzGd5pu DiszpKrYNg8]"},
		{"organisationUnits?filter=code:eq:OU_559&filter=code:eq:OU_264&rootJunction=OR", "[O6uvpzGd5pu DiszpKrYNg8]"},
		{"organisationUnits?filter=name:ilike:clinic", "[y77LiPqLMoq]"},
		{"organisationUnits?filter=parent:null", "[ImspTQPwCqd]"},
		{"dataElements?filter=code:in:[DE_MORT_MALARIA,DE_MORT_MEASLES]", "[f7n9E0hX8qk Ix2HsbDMLea]"},
		{"categoryOptionCombos?filter=name:eq:default", "[HllvX50cXC0]"},
		{"categoryOptionCombos?filter=categoryOptions.id:eq:UPvKbcqTEY3&filter=categoryCombo.id:eq:BwnnrV1AkNj", "[oPcWGgS2Liz]"},
		{"programs?filter=programType:eq:WITHOUT_REGISTRATION", "[Zd2rkv8FsWq eBAyeGv0exc]"},
		{"trackedEntityAttributes?filter=unique:eq:true", "[lZGmxYbs97q]"},
		{"dataSets?filter=periodType:eq:Monthly", "[VEM58nY22sO pBOMPrpg1QX]"},
	} {
		r := get(t, s, "/api/"+tc.query+"&paging=false")
		if r.code != 200 {
			t.Errorf("%s: %d %s", tc.query, r.code, r.raw)
			continue
		}
		coll := strings.SplitN(tc.query, "?", 2)[0]
		var ids []string
		for _, o := range at(r.body, coll).([]any) {
			ids = append(ids, at(o, "id").(string))
		}
		if fmt.Sprint(ids) != tc.ids {
			t.Errorf("%s: %v, want %s", tc.query, ids, tc.ids)
		}
	}
	for _, bad := range []string{"filter=code", "filter=code:zz:1", "fields=id[name"} {
		if r := get(t, s, "/api/organisationUnits?"+bad); r.code != 400 && r.code != 409 {
			t.Errorf("%s: HTTP %d", bad, r.code)
		}
	}
}

func TestMetadataFieldsAndSingle(t *testing.T) {
	s := startSim(t, Options{})
	r := get(t, s, "/api/dataSets/pBOMPrpg1QX?fields=id,periodType,categoryCombo[id,categoryOptionCombos[id,name]],dataSetElements[dataElement[id,code,valueType,zeroIsSignificant]],organisationUnits[id]")
	if r.code != 200 {
		t.Fatalf("%d %s", r.code, r.raw)
	}
	if at(r.body, "periodType") != "Monthly" || at(r.body, "categoryCombo", "categoryOptionCombos", 0, "name") != "default" ||
		at(r.body, "dataSetElements", 0, "dataElement", "code") != "DE_MORT_MALARIA" || at(r.body, "dataSetElements", 0, "dataElement", "zeroIsSignificant") != false {
		t.Errorf("expanded: %s", r.raw)
	}
	if _, ok := r.obj(t)["name"]; ok {
		t.Error("unrequested field returned")
	}
	r = get(t, s, "/api/organisationUnits/DiszpKrYNg8")
	if at(r.body, "path") != "/ImspTQPwCqd/O6uvpzGd5pu/YuQRtpLP10I/DiszpKrYNg8" || num(at(r.body, "level")) != 4 || at(r.body, "parent", "id") != "YuQRtpLP10I" {
		t.Errorf("org unit %s", r.raw)
	}
	r = get(t, s, "/api/organisationUnits/DiszpKrYNg8?fields=*,!openingDate,parent[id,name]")
	if _, ok := r.obj(t)["openingDate"]; ok || at(r.body, "parent", "name") != "Badjia" {
		t.Errorf("exclusion/expansion %s", r.raw)
	}
	r = get(t, s, "/api/dataElements/NOPEnope123")
	if r.code != 404 || at(r.body, "message") != "DataElement with id NOPEnope123 could not be found." || at(r.body, "httpStatus") != "Not Found" {
		t.Errorf("404 %s", r.raw)
	}
	if r := call(t, s, "POST", "/api/dataElements", `{}`, adminAuth); r.code != 405 {
		t.Errorf("POST metadata: %d", r.code)
	}
}

func TestAdapterProgramsShape(t *testing.T) {
	s := startSim(t, Options{})
	r := get(t, s, "/api/programs?filter=id:eq:IpHINAT79UW&fields=id,name,trackedEntityType[id],programStages[id,name,repeatable,programStageDataElements[compulsory,dataElement[id,code,name,valueType,optionSet[id,name,options[code,name]]]]],programTrackedEntityAttributes[mandatory,trackedEntityAttribute[id,code,name,valueType]]")
	want := sharedJSON(t, "adapter-programs.json")
	// The fixture carries client-side flags and ids the simulator's program
	// model does not have; everything the mediator reads must match.
	assertShape(t, "programs", want, r.body,
		"programs[].withoutRegistration", "programs[].displayIncidentDate", "programs[].captureCoordinates",
		"programs[].selectEnrollmentDatesInFuture", "programs[].registration", "programs[].selectIncidentDatesInFuture",
		"programs[].programStages[].generatedByEnrollmentDate", "programs[].programStages[].captureCoordinates",
		"programs[].programStages[].minDaysFromStart", "programs[].programStages[].programStageDataElements[].id",
		"programs[].programStages[].programStageDataElements[].allowProvidedElsewhere",
		"programs[].programStages[].programStageDataElements[].dataElement.optionSetValue",
		"programs[].programStages[].programStageDataElements[].dataElement.optionSet",
		"programs[].programTrackedEntityAttributes[].name", "programs[].programTrackedEntityAttributes[].id",
		"programs[].programTrackedEntityAttributes[].valueType", "programs[].programTrackedEntityAttributes[].allowFutureDate",
		"programs[].programTrackedEntityAttributes[].trackedEntityAttribute.generated",
		"programs[].programTrackedEntityAttributes[].trackedEntityAttribute.code")
	if at(r.body, "programs", 0, "trackedEntityType", "id") != "nEenWmSyUEp" {
		t.Errorf("%s", r.raw)
	}
}

// Every shared DHIS2 file is used by some test; this guards against new
// files going unnoticed.
func TestEverySharedFileIsUsed(t *testing.T) {
	entries, err := os.ReadDir(sharedDir)
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	files, _ := filepath.Glob("*_test.go")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		src.Write(b)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !strings.Contains(src.String(), `"`+e.Name()+`"`) {
			t.Errorf("shared file %s is not used by any test", e.Name())
		}
	}
}

func TestDefaultMetadataMatchesSharedCategoryModel(t *testing.T) {
	// The embedded fixture keeps the shared data sets and COCs verbatim
	// (ids, period types, data set elements).
	shared := sharedJSON(t, "metadata-category-model-and-datasets.json")
	md := DefaultMetadata()
	dss := map[string]DataSet{}
	for _, d := range md.DataSets {
		dss[d.ID] = d
	}
	for _, d := range at(shared, "dataSets").([]any) {
		got, ok := dss[at(d, "id").(string)]
		if !ok {
			t.Errorf("data set %v missing", at(d, "id"))
			continue
		}
		if got.PeriodType != at(d, "periodType") || len(got.DataSetElements) != len(at(d, "dataSetElements").([]any)) {
			t.Errorf("data set %s differs", got.ID)
		}
	}
	cocs := map[string]bool{}
	for _, c := range md.CategoryOptionCombos {
		cocs[c.ID] = true
	}
	for _, c := range at(shared, "categoryOptionCombos").([]any) {
		if !cocs[at(c, "id").(string)] {
			t.Errorf("COC %v missing", at(c, "id"))
		}
	}
}
