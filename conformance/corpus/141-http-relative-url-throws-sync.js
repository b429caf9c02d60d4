// profile: both
// without baseUrl a relative path throws before the request's promise exists: try/catch sees it (issue 15, §5.2)
// adaptor: @openfn/language-http@7.2.10
fn(state => {
  try {
    get('/relative')(state);
    return { ...state, how: 'no throw' };
  } catch (e) {
    return { ...state, how: 'thrown', code: e.code };
  }
});
