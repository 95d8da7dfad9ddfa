// The part of jstat 1.9.6 that engine/linkage/threshold-guidance.ts uses (jstat ships no types).
declare module 'jstat' {
  const jstat: { jStat: { beta: { cdf(x: number, alpha: number, beta: number): number } } };
  export default jstat;
}
