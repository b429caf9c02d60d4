// profile: lightning
// fnIf with a lazy $ condition (§1.4, §4.3 fnIf)
fnIf($.data.enabled, fn(state => ({ ...state, enabled: 'yes' })));
fnIf($.data.disabled, fn(state => ({ ...state, disabled: 'yes' })));
