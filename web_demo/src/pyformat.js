// Python's float formatting where the page must print what Python prints: format(x, ".Nf") and
// round(x, N) round the exact binary value half to even; JS's toFixed rounds ties up.

/** Python's f"{x:.{digits}f}". */
export function pyFixed(x, digits) {
  if (!Number.isFinite(x)) return x > 0 ? "inf" : x < 0 ? "-inf" : "nan";
  const neg = x < 0 || Object.is(x, -0);
  // toFixed(100) is the exact decimal expansion for any double this page formats (|x| > 1e-30)
  const exact = Math.abs(x).toFixed(100);
  const [int, frac] = exact.split(".");
  const keep = int + frac.slice(0, digits);
  const rest = frac.slice(digits);
  let up = rest[0] > "5" || (rest[0] === "5" && /[1-9]/.test(rest.slice(1)));
  if (rest[0] === "5" && !/[1-9]/.test(rest.slice(1))) up = Number(keep[keep.length - 1]) % 2 === 1;
  let digitsOut = keep;
  if (up) {
    const arr = keep.split("").map(Number);
    let i = arr.length - 1;
    while (i >= 0 && arr[i] === 9) arr[i--] = 0;
    if (i < 0) arr.unshift(1); else arr[i] += 1;
    digitsOut = arr.join("");
  }
  const head = digitsOut.slice(0, digitsOut.length - digits) || "0";
  const body = digits ? `${head}.${digitsOut.slice(digitsOut.length - digits)}` : head;
  return (neg ? "-" : "") + body;
}

/** Python's round(x, digits) for a float. */
export function pyRound(x, digits) {
  return Number.isFinite(x) ? Number(pyFixed(x, digits)) : x;
}
