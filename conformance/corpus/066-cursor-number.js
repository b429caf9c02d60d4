// profile: lightning
// a non-string cursor value is stored as is (§4.3 cursor)
cursor(1234, { key: 'page' });
