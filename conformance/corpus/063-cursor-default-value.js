// profile: lightning
// cursor falls back to defaultValue when the value resolves to undefined (§4.3 cursor)
cursor($.lastRun, { defaultValue: '2020-01-01' });
