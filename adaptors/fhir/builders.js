// language-fhir-4's `datatypes` and `builders` (also exported as `b`), for
// FLAVOUR 'fhir-4' only. Written from the behaviour of OpenFn/adaptors
// packages/fhir-4 (0.5.x): src/datatypes.ts (identifier, coding, concept,
// reference, composite, extensions, value maps, system maps),
// src/builders.ts (one builder per resource: builder(props) or
// builder(profileName, props)) and the generated src/profiles/<Resource>.ts,
// whose per-field rules are the table in profiles.js (all 107 builders). Quirks are kept,
// because jobs written against OpenFn see exactly them:
//   - a plain string given where a CodeableConcept is expected becomes
//     {coding: ["<string>"]} (concept() wraps it as a "coding");
//   - ensureConceptText on a list of concepts does nothing;
//   - reference(array) maps with the index as `opts` (no effect);
//   - composite() names the key from the value's shape (valueString,
//     valueDateTime, valueQuantity, valueCodeableConcept, valueReference,
//     valuePeriod, valueBoolean, valueInteger) and only warns otherwise;
//   - identifier/ccs/refs fields given a single value are wrapped in an
//     array on the props object too (the generated code assigns to props).
// The value maps and the system map are module state in OpenFn (one per
// worker); here they live in the run (host.runStore()), so nothing leaks
// from one run to the next on a pooled VM.
(function () {
  if (!FHIR4) return;

  function isNil(v) { return v === null || v === undefined; }

  // hl7.org/fhir/R4/datatypes.html#dateTime
  var DATETIME = /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$/;

  function store() {
    var s = host.runStore();
    if (!s.systemMap) {
      s.systemMap = {};
      s.defaults = {};
      s.user = {};
    }
    return s;
  }

  // Values are indexed by code and also by their display.
  function indexValues(values) {
    var out = Object.assign({}, values);
    try {
      Object.keys(values).forEach(function (code) {
        var v = values[code];
        if (typeof v !== 'string' && 'display' in v) out[v.display] = v;
      });
    } catch (e) {
      // a value that is not an object stops the indexing, as in OpenFn
    }
    return out;
  }

  var dt = {};

  dt.setValues = function (url, values, type) {
    var s = store();
    (type === 'default' ? s.defaults : s.user)[url] = indexValues(values);
  };
  dt.extendValues = function (url, values, type) {
    var s = store(), target = type === 'default' ? s.defaults : s.user;
    target[url] = target[url] || {};
    Object.assign(target[url], indexValues(values));
  };
  dt.lookupValue = function (url, code) {
    var s = store();
    var value = s.user[url] && !isNil(s.user[url][code]) ? s.user[url][code] : code;
    var d = s.defaults[url] && s.defaults[url][value];
    return isNil(d) ? value : d;
  };
  dt.mapSystems = function mapSystems(obj) {
    if (Array.isArray(obj)) return obj.map(mapSystems);
    var map = store().systemMap;
    if (obj.system in map) return Object.assign({}, obj, { system: map[obj.system] });
    return obj;
  };
  dt.mapValues = function (obj, hints) {
    var out = Object.assign({}, obj);
    for (var k in obj) out[k] = k in hints ? dt.lookupValue(hints[k], obj[k]) : out[k];
    return out;
  };
  // setSystemMap is an operation; extendSystemMap applies at once.
  dt.setSystemMap = function (mappings) {
    return function (state) { store().systemMap = mappings; return state; };
  };
  dt.extendSystemMap = function (mappings) { Object.assign(store().systemMap, mappings); };

  dt.identifier = function identifier(id, ext, hints) {
    if (ext === undefined) ext = [];
    if (hints === undefined) hints = {};
    if (Array.isArray(id)) return id.map(function (i) { return identifier(i, ext, hints); });
    var i = typeof id === 'string' ? dt.mapValues({ value: id }, hints) : dt.mapValues(id, hints);
    if (i.type) i.type = dt.concept(i.type);
    if (ext) ext.forEach(function (e) { dt.addExtension(i, e.url, e.value); });
    return dt.mapSystems(i);
  };
  dt.id = dt.identifier;

  dt.addExtension = function (resource, url, value) {
    var obj = { url: url };
    dt.composite(obj, 'value', value);
    if (isNil(resource.extension)) resource.extension = [];
    resource.extension.push(obj);
  };
  dt.extension = function (url, value, props) {
    var e = { url: url };
    dt.composite(e, 'value', value);
    return { extension: [Object.assign(e, props === undefined ? {} : props)] };
  };
  dt.ext = dt.extension;
  dt.findExtension = function (obj, targetUrl, path) {
    var found = obj.extension ? obj.extension.find(function (e) { return e.url === targetUrl; }) : undefined;
    if (found && path) return common._.get(found, path);
    return found;
  };

  dt.coding = function coding(code, system, extra) {
    if (arguments.length === 1) {
      if (Array.isArray(code)) return coding(code[0], code[1], code[2]);
      return dt.mapSystems(code);
    }
    return dt.mapSystems(Object.assign({ code: code, system: system }, extra === undefined ? {} : extra));
  };
  dt.c = dt.coding;
  dt.value = function (value, system) {
    var extra = Array.prototype.slice.call(arguments, 2);
    return dt.mapSystems(Object.assign({ value: value, system: system }, extra));
  };

  dt.concept = function (codings, extra) {
    if (codings.coding) return codings;
    if (!Array.isArray(codings) || typeof codings[0] === 'string') codings = [codings];
    return Object.assign({}, extra === undefined ? {} : extra, {
      coding: codings.map(function (c) { return Array.isArray(c) ? dt.coding.apply(null, c) : c; })
    });
  };
  dt.cc = dt.concept;
  dt.ensureConceptText = function (concept) {
    if (!concept.text && concept.coding && concept.coding.length && concept.coding[0].display) {
      concept.text = concept.coding[0].display;
    }
  };

  dt.reference = function reference(ref, opts) {
    if (opts === undefined) opts = {};
    if (Array.isArray(ref)) return ref.map(function (r, i) { return reference(r, i); });
    if (ref.resourceType && ref.id) return { reference: ref.resourceType + '/' + ref.id };
    if (ref.reference) return ref;
    var result = {};
    if (typeof ref === 'string') result.reference = ref;
    if (opts) Object.assign(result, opts);
    return result;
  };
  dt.ref = dt.reference;

  dt.composite = function (object, key, value) {
    var k = [key];
    if (value.coding) k.push('CodeableConcept');
    else if (value.reference) k.push('Reference');
    if (value.value && typeof value.value === 'number') k.push('Quantity');
    else if (value.id && value.meta && value.resourceType) {
      k.push('Reference');
      value = dt.reference(value);
    } else if (value.start || value.end) k.push('Period');
    else if (value.dateTime) k.push('DateTime');
    else if (typeof value === 'string') k.push(DATETIME.test(value) ? 'DateTime' : 'String');
    else if (typeof value === 'boolean') k.push('Boolean');
    else if (typeof value === 'number') k.push('Integer');
    if (k.length === 2) object[k.join('')] = value;
    else console.warn('WARNING: Failed to map ' + key + ': unrecognised data type (see utils.composite)');
  };

  // Per builder, its fields in the generated order and how each is built
  // (profiles.js, FHIR4_PROFILES).
  var VS = 'http://hl7.org/fhir/ValueSet/', THO = 'http://terminology.hl7.org/ValueSet/';
  var profiles = {};
  Object.keys(FHIR4_PROFILES).forEach(function (rt) {
    profiles[rt] = FHIR4_PROFILES[rt].map(function (f) {
      var p = f.split(' ');
      var url = p[2];
      if (url) url = url.replace(/^VS:/, VS).replace(/^THO:/, THO);
      return [p[0], p[1], url];
    });
  });

  function arrayed(props, name) {
    if (!Array.isArray(props[name])) props[name] = [props[name]];
    return props[name];
  }

  function build(resourceType, fields, props) {
    var resource = Object.assign({ resourceType: resourceType }, props);
    fields.forEach(function (f) {
      var name = f[0], kind = f[1], url = f[2];
      if (isNil(props[name])) return;
      switch (kind) {
        case 'ids': resource[name] = dt.identifier(arrayed(props, name)); break;
        case 'id': resource[name] = dt.identifier(props[name]); break;
        case 'cc0':
          resource[name] = dt.concept(props[name]);
          dt.ensureConceptText(resource[name]);
          break;
        case 'cca':
          // a list handed to concept() whole, not one concept per item
          resource[name] = dt.concept(arrayed(props, name));
          dt.ensureConceptText(resource[name]);
          break;
        case 'x':
          delete resource[name];
          dt.composite(resource, name, props[name]);
          break;
        case 'cc':
          resource[name] = dt.concept(dt.lookupValue(url, props[name]));
          dt.ensureConceptText(resource[name]);
          break;
        case 'ccs':
          resource[name] = arrayed(props, name).map(function (x) { return dt.concept(dt.lookupValue(url, x)); });
          dt.ensureConceptText(resource[name]);
          break;
        case 'coding': {
          var src = props[name];
          if (typeof src === 'string') src = dt.lookupValue(url, src);
          resource[name] = dt.coding(src);
          break;
        }
        case 'ref': resource[name] = dt.reference(props[name]); break;
        case 'refs': resource[name] = dt.reference(arrayed(props, name)); break;
        case 'bb': resource[name] = Object.assign({}, props[name]); break;
        case 'bbs': {
          var items = Array.isArray(props[name]) ? props[name] : [props[name]];
          resource[name] = items.map(function (item) { return Object.assign({}, item); });
          break;
        }
      }
    });
    return resource;
  }

  var builders = Object.assign({}, dt);
  Object.keys(profiles).forEach(function (rt) {
    var fn = rt.charAt(0).toLowerCase() + rt.slice(1);
    builders[fn] = function (type, props) {
      if (typeof type !== 'string') {
        props = type;
        type = rt;
      }
      if (type === rt) return build(rt, profiles[rt], props);
      throw new Error('Error: profile "' + type + '" not recognised');
    };
  });

  exports.builders = builders;
  exports.b = builders;
  exports.datatypes = dt;
})();
