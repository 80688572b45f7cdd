// Uses the installed library: 2x2 matmul, checked by hand.
#include <cstdio>

#include "tensor/ops.hpp"

int main() {
  using namespace ddpm;
  Tensor a = tensor({1, 2, 3, 4}, {2, 2});
  Tensor c = ops::matmul(a, a);  // [[7, 10], [15, 22]]
  bool ok = c.to_vector<double>() == std::vector<double>{7, 10, 15, 22};
  std::printf("consumer: %s\n", ok ? "ok" : "wrong result");
  return ok ? 0 : 1;
}
