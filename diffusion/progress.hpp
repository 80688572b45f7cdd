// A one-line progress bar for long loops (training, sampling): a bar, the step, the rate and the
// ETA, redrawn in place with '\r' on a terminal and printed as plain lines every few percent
// otherwise (so a log file stays readable).
#pragma once
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace ddpm {

class ProgressBar {
 public:
  // Counts from `start` (a resumed run) to `total`; `unit` names what a step makes ("img" for images/s).
  ProgressBar(std::ostream& out, int64_t start, int64_t total, std::string label, int64_t items_per_step = 1,
              std::string unit = "it");
  // Marks `done` steps finished; `extra` is shown after the counts (e.g. "loss 0.0312").
  void update(int64_t done, const std::string& extra = "");
  // The last line: the last update()'s count (a loop stopped early shows where it stopped).
  void finish(const std::string& extra = "");

  static std::string format_seconds(double seconds);  // 75 -> "1:15", 3700 -> "1:01:40"

 private:
  void draw(int64_t done, const std::string& extra, bool final);

  std::ostream& out_;
  int64_t start_, total_, items_per_step_;
  std::string label_, unit_;
  bool interactive_;
  int64_t last_printed_percent_ = -1;
  int64_t done_ = 0;  // the last update()'s count
  std::chrono::steady_clock::time_point began_, last_draw_;
};

}  // namespace ddpm
