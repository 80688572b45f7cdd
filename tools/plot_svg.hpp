// A small SVG line-plot writer for the tools: one or more panels side by side, each with axes, "nice"
// tick marks and labels, axis titles and a title, and one caption line under them all. No dependencies.
//
//   svg::Panel p{"Rate", "reverse steps", "bits/dim", {{xs, ys, "#1f77b4"}}};
//   svg::write_line_plots("fig.svg", {p, q}, "caption");
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ddpm::tools::svg {

struct Series {
  std::vector<double> x, y;         // the points, joined in this order (non-finite ones are skipped)
  std::string color = "#1f77b4";
};

struct Panel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
};

// Ticks at multiples of 1, 2 or 5 x 10^k covering [lo, hi] with about `count` intervals; lo and hi are
// widened to the outer ticks.
inline std::vector<double> nice_ticks(double& lo, double& hi, int count = 5) {
  if (!(hi > lo)) {  // one value (or none): a unit-wide range around it
    const double c = std::isfinite(lo) ? lo : 0.0, half = std::max(std::fabs(c) * 0.1, 0.5);
    lo = c - half, hi = c + half;
  }
  const double raw = (hi - lo) / count, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag <= 1 ? mag : raw / mag <= 2 ? 2 * mag : raw / mag <= 5 ? 5 * mag : 10 * mag;
  lo = std::floor(lo / step + 1e-9) * step, hi = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> ticks;
  for (double v = lo; v <= hi + step * 1e-6; v += step) ticks.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return ticks;
}

inline std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Text with &, < and > escaped for SVG.
inline std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : std::string(1, c);
  return out;
}

// One panel at (left, top) of size w x h pixels (axes, ticks, labels and the lines).
inline void draw_panel(std::ostream& o, const Panel& p, double left, double top, double w, double h) {
  const double ml = 62, mr = 14, mt = 28, mb = 46;  // margins for tick labels and titles
  const double x0 = left + ml, x1 = left + w - mr, y0 = top + h - mb, y1 = top + mt;  // plot area (y up)
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const Series& s : p.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
        xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
        ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
      }
  const std::vector<double> xt = nice_ticks(xlo, xhi), yt = nice_ticks(ylo, yhi);
  auto px = [&](double x) { return x0 + (x - xlo) / (xhi - xlo) * (x1 - x0); };
  auto py = [&](double y) { return y0 - (y - ylo) / (yhi - ylo) * (y0 - y1); };

  o << "<g font-family=\"sans-serif\" font-size=\"11\">\n";
  o << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << top + 16 << "\" text-anchor=\"middle\" font-size=\"13\">"
    << escape(p.title) << "</text>\n";
  for (double v : xt) {  // vertical grid lines and x tick labels
    o << "<line x1=\"" << px(v) << "\" y1=\"" << y0 << "\" x2=\"" << px(v) << "\" y2=\"" << y1
      << "\" stroke=\"#e5e5e5\"/>\n";
    o << "<text x=\"" << px(v) << "\" y=\"" << y0 + 14 << "\" text-anchor=\"middle\">" << fmt("%g", v) << "</text>\n";
  }
  for (double v : yt) {  // horizontal grid lines and y tick labels
    o << "<line x1=\"" << x0 << "\" y1=\"" << py(v) << "\" x2=\"" << x1 << "\" y2=\"" << py(v)
      << "\" stroke=\"#e5e5e5\"/>\n";
    o << "<text x=\"" << x0 - 5 << "\" y=\"" << py(v) + 4 << "\" text-anchor=\"end\">" << fmt("%g", v) << "</text>\n";
  }
  o << "<rect x=\"" << x0 << "\" y=\"" << y1 << "\" width=\"" << x1 - x0 << "\" height=\"" << y0 - y1
    << "\" fill=\"none\" stroke=\"#333\"/>\n";
  o << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << y0 + 32 << "\" text-anchor=\"middle\">" << escape(p.x_label)
    << "</text>\n";
  const double ly = (y0 + y1) / 2, lx = left + 14;
  o << "<text x=\"" << lx << "\" y=\"" << ly << "\" text-anchor=\"middle\" transform=\"rotate(-90 " << lx << " " << ly
    << ")\">" << escape(p.y_label) << "</text>\n";
  for (const Series& s : p.series) {
    o << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"1.5\" points=\"";
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
        o << fmt("%.2f", px(s.x[i])) << "," << fmt("%.2f", py(s.y[i])) << " ";
    o << "\"/>\n";
  }
  o << "</g>\n";
}

// Writes the panels side by side (each panel_w x panel_h pixels) with `caption` on a line below them.
// Throws std::runtime_error naming the file when it cannot be written.
inline void write_line_plots(const std::string& path, const std::vector<Panel>& panels, const std::string& caption,
                             double panel_w = 340, double panel_h = 270) {
  const double caption_h = caption.empty() ? 0 : 24, w = panel_w * double(panels.size()), h = panel_h + caption_h;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h << "\" viewBox=\"0 0 " << w
    << " " << h << "\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t i = 0; i < panels.size(); ++i) draw_panel(o, panels[i], panel_w * double(i), 0, panel_w, panel_h);
  if (!caption.empty())
    o << "<text x=\"" << w / 2 << "\" y=\"" << panel_h + 14 << "\" text-anchor=\"middle\" font-family=\"sans-serif\" "
      << "font-size=\"12\">" << escape(caption) << "</text>\n";
  o << "</svg>\n";
  std::ofstream f(path);
  if (!(f << o.str()) || !f.flush()) throw std::runtime_error("cannot write '" + path + "'");
}

}  // namespace ddpm::tools::svg
