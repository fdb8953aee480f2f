// Row-wise argmax of x [M, N] into out[out_offset + row] (u32).
// Ties go to the lowest index. Values are compared through an order-preserving u32 key
// (integer compares behave the same on every backend, unlike float compares with NaN):
// NaN ranks below every number including -inf, and -0 equals +0. A row of only NaN
// therefore gives index 0. One workgroup per row.

override WG: u32 = 256;
const FAN: u32 = 16u;

struct Params {
  m: u32,
  n: u32,
  groups_x: u32,
  out_offset: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> keys: array<u32, WG>;
var<workgroup> idxs: array<u32, WG>;
var<workgroup> fan_keys: array<u32, FAN>;
var<workgroup> fan_idxs: array<u32, FAN>;

// Monotone map f32 -> u32: a < b as numbers iff key(a) < key(b). NaN -> 0, -0 -> key(+0).
fn order_key(v: f32) -> u32 {
  var bits = bitcast<u32>(v);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return 0u;
  }
  if (bits == 0x80000000u) {
    bits = 0u;
  }
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

// True when candidate (k, i) beats the best so far (bk, bi).
fn beats(k: u32, i: u32, bk: u32, bi: u32) -> bool {
  return k > bk || (k == bk && i < bi);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * p.groups_x + wid.x;
  if (row >= p.m) {
    return;
  }
  let base = row * p.n;

  // Each invocation walks its elements in increasing order: strict ">" keeps the lowest index.
  var bk = 0u;
  var bi = 0xffffffffu;
  for (var i = lid; i < p.n; i += WG) {
    let k = order_key(x[base + i]);
    if (beats(k, i, bk, bi)) {
      bk = k;
      bi = i;
    }
  }
  keys[lid] = bk;
  idxs[lid] = bi;
  workgroupBarrier();
  if (lid < FAN) {
    let per = WG / FAN;
    bk = 0u;
    bi = 0xffffffffu;
    for (var j = 0u; j < per; j++) {
      let t = lid * per + j;
      if (beats(keys[t], idxs[t], bk, bi)) {
        bk = keys[t];
        bi = idxs[t];
      }
    }
    fan_keys[lid] = bk;
    fan_idxs[lid] = bi;
  }
  workgroupBarrier();
  if (lid == 0u) {
    for (var j = 0u; j < FAN; j++) {
      if (beats(fan_keys[j], fan_idxs[j], bk, bi)) {
        bk = fan_keys[j];
        bi = fan_idxs[j];
      }
    }
    out[p.out_offset + row] = bi;
  }
}
