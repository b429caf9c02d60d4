// conversions: FHIR ⇄ DHIS2 helpers (Go package fhir) shared by the dhis2,
// fhir and fhir-4 adaptors. Plain functions, not operations; references are
// not expanded (call them inside fn with values).
(function () {
  function json(what, v) {
    if (v === undefined || v === null) throw new TypeError(what + ' is required');
    return typeof v === 'string' ? v : JSON.stringify(v);
  }
  exports.conversions = {
    // → { dataValueSet, problems }
    measureReportToDataValueSet: function (measureReport, mapping) {
      return JSON.parse(host.convMeasureReport(json('measureReport', measureReport), json('mapping', mapping)));
    },
    // → { bundle, problems } (a transaction Bundle of conditional PUTs)
    trackedEntityToBundle: function (trackedEntity, mapping) {
      return JSON.parse(host.convTrackedEntity(json('trackedEntity', trackedEntity), json('mapping', mapping)));
    },
    // → { trackedEntity, problems } (trackedEntity null on error problems)
    patientToTrackedEntity: function (patient, mapping) {
      return JSON.parse(host.convPatient(json('patient', patient), json('mapping', mapping)));
    },
    // → OperationOutcome with every issue found
    validate: function (resource) {
      return JSON.parse(host.convValidate(json('resource', resource)));
    },
    // (periodType, {start, end}) → DHIS2 period id, e.g. '202401'
    periodFromFHIR: function (periodType, period) {
      return host.convPeriodFromFHIR(String(periodType), json('period', period));
    },
    // DHIS2 period id → {start, end}
    periodToFHIR: function (id) {
      return JSON.parse(host.convPeriodToFHIR(String(id)));
    },
    // conversion problems → OperationOutcome
    problemsOutcome: function (problems) {
      return JSON.parse(host.convProblemsOutcome(json('problems', problems || [])));
    },
    // deterministic DHIS2 UID from a seed (e.g. 'system|value')
    deriveUid: function (seed) { return host.convDeriveUid(String(seed)); }
  };
})();
