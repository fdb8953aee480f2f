// Shared snippet (not a kernel): a file pulls it in with the line `#include common/tanh`.

// tanh through exp with clamping: some backends return NaN for tanh of large |x|.
fn tanh_safe(x: f32) -> f32 {
  let e = exp(2.0 * clamp(x, -15.0, 15.0));
  return (e - 1.0) / (e + 1.0);
}
