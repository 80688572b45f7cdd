// Counts of the points where the host waits for a device or trades data with it: a GPU step should
// have none but the one read per logged step, and these counters (kept on every device, the CPU too)
// let a test on the CPU check that rule without a GPU.
#pragma once
#include <cstdint>

namespace ddpm {

struct HostSyncCounts {
  uint64_t reads = 0;         // tensor values read into host memory: item(), to_vector(), to(cpu) from a GPU
  uint64_t uploads = 0;       // host data made into a tensor: from_vector(), tensor(), arange(), to(cuda) from the CPU
  uint64_t synchronizes = 0;  // Backend::synchronize() calls, on any device

  HostSyncCounts operator-(const HostSyncCounts& before) const {
    return {reads - before.reads, uploads - before.uploads, synchronizes - before.synchronizes};
  }
};

// Totals since the process started, over all threads.
HostSyncCounts host_sync_counts();

// Called by Tensor and by the backends where such a point happens.
void count_host_read();
void count_upload();
void count_synchronize();

}  // namespace ddpm
