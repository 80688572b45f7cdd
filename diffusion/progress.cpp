// The progress bar: rate and ETA from the steps done in this run, redrawn at most ten times a second.
#include "diffusion/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace ddpm {

ProgressBar::ProgressBar(std::ostream& out, int64_t start, int64_t total, std::string label, int64_t items_per_step,
                         std::string unit)
    : out_(out), start_(start), total_(total), items_per_step_(items_per_step), label_(std::move(label)),
      unit_(std::move(unit)) {
  // Redraw in place only when the stream is a terminal; otherwise print a line every 5%.
  interactive_ = (&out == &std::cerr && isatty(STDERR_FILENO)) || (&out == &std::cout && isatty(STDOUT_FILENO));
  began_ = last_draw_ = std::chrono::steady_clock::now();
  done_ = start;
}

std::string ProgressBar::format_seconds(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  int64_t s = int64_t(seconds + 0.5), h = s / 3600, m = (s / 60) % 60;
  char buf[32];
  if (h > 0) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)h, (long long)m, (long long)(s % 60));
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)m, (long long)(s % 60));
  return buf;
}

void ProgressBar::update(int64_t done, const std::string& extra) {
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  if (interactive_) {
    if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  } else {
    // The last line is finish()'s, so that a log holds it once.
    if (done >= total_) return;
    int64_t percent = total_ > 0 ? done * 100 / total_ : 100;
    if (percent / 5 == last_printed_percent_ / 5) return;
    last_printed_percent_ = percent;
  }
  last_draw_ = now;
  draw(done, extra, false);
}

void ProgressBar::finish(const std::string& extra) { draw(done_, extra, true); }

void ProgressBar::draw(int64_t done, const std::string& extra, bool final) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - began_).count();
  int64_t steps = done - start_;
  double rate = elapsed > 0 ? double(steps * items_per_step_) / elapsed : 0.0;
  double eta = steps > 0 ? elapsed / double(steps) * double(total_ - done) : -1.0;
  constexpr int kWidth = 24;
  int filled = total_ > 0 ? int(double(done) / double(total_) * kWidth) : kWidth;
  std::string bar(size_t(filled), '#');
  bar.resize(kWidth, '.');
  char counts[160];
  std::snprintf(counts, sizeof counts, "%s [%s] %lld/%lld  %.1f %s/s  elapsed %s  eta %s", label_.c_str(),
                bar.c_str(), (long long)done, (long long)total_, rate, unit_.c_str(),
                format_seconds(elapsed).c_str(), final ? "0:00" : format_seconds(eta).c_str());
  std::string line = std::string(counts) + (extra.empty() ? "" : "  " + extra);
  if (interactive_) out_ << '\r' << line << "\033[K" << (final ? "\n" : "") << std::flush;
  else out_ << line << '\n' << std::flush;
}

}  // namespace ddpm
