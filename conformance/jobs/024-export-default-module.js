import { fn, each } from '@openfn/language-common';
const double = x => x * 2;
export default [
  fn(s => ({ ...s, list: s.data.nums.map(double) })),
  each('$.list[*]', fn(s => ({ ...s, sum: (s.sum || 0) + s.data }))),
];
