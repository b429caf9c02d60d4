// profile: lightning
// group with a nested key path (lodash get) (§4.3 group)
group(state => state.data.rows, 'meta.country');
