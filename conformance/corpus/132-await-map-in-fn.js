// profile: both
// await on a directly called operation inside an async fn (issue 15, §2.2)
fn(async state => {
  const mapped = await map('$.data.items', (item, i) => item * 10 + i)(state);
  const checked = await validate({ type: 'object', required: ['items'] }, 'data')(state);
  return { ...state, mapped: mapped.data, valid: !checked.validationErrors };
});
