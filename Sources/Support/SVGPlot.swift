import Foundation

/// Minimal SVG line charts for training curves (loss, metrics per epoch). No dependencies;
/// every series gets its own panel so different scales stay readable.
public struct SVGPlot {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    public var title: String
    public var xLabel: String
    public var series: [Series]

    public init(title: String, xLabel: String, series: [Series]) {
        self.title = title
        self.xLabel = xLabel
        self.series = series
    }

    public func render(panelWidth: Double = 520, panelHeight: Double = 220) -> String {
        let panels = series.filter { !$0.points.isEmpty }
        let margin = (left: 64.0, right: 16.0, top: 28.0, bottom: 36.0)
        let width = panelWidth
        let height = 30 + Double(max(panels.count, 1)) * panelHeight
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="18" text-anchor="middle" font-size="14">\(escape(title))</text>

        """
        for (index, s) in panels.enumerated() {
            let top = 30 + Double(index) * panelHeight
            let x0 = margin.left, x1 = width - margin.right
            let y0 = top + margin.top, y1 = top + panelHeight - margin.bottom
            let xs = s.points.map(\.x), ys = s.points.map(\.y).filter(\.isFinite)
            let xMin = xs.min() ?? 0, xMax = max(xs.max() ?? 1, xMin + 1e-9)
            var yMin = ys.min() ?? 0, yMax = ys.max() ?? 1
            if yMax - yMin < 1e-12 { yMin -= 0.5; yMax += 0.5 }
            func px(_ x: Double) -> Double { x0 + (x - xMin) / (xMax - xMin) * (x1 - x0) }
            func py(_ y: Double) -> Double { y1 - (y - yMin) / (yMax - yMin) * (y1 - y0) }
            out += "<rect x=\"\(x0)\" y=\"\(y0)\" width=\"\(x1 - x0)\" height=\"\(y1 - y0)\" fill=\"none\" stroke=\"#999\"/>\n"
            out += "<text x=\"\(x0)\" y=\"\(y0 - 6)\" font-size=\"12\">\(escape(s.name))</text>\n"
            for k in 0 ... 4 {
                let v = yMin + (yMax - yMin) * Double(k) / 4
                out += "<text x=\"\(x0 - 4)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(format(v))</text>\n"
                let xv = xMin + (xMax - xMin) * Double(k) / 4
                out += "<text x=\"\(px(xv))\" y=\"\(y1 + 14)\" text-anchor=\"middle\">\(format(xv))</text>\n"
            }
            out += "<text x=\"\((x0 + x1) / 2)\" y=\"\(y1 + 28)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
            let path = s.points.filter { $0.y.isFinite }.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
            if s.points.count <= 60 {
                for p in s.points where p.y.isFinite {
                    out += "<circle cx=\"\(px(p.x))\" cy=\"\(py(p.y))\" r=\"2\" fill=\"#1f77b4\"/>\n"
                }
            }
        }
        out += "</svg>\n"
        return out
    }

    private func format(_ v: Double) -> String {
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 1000 || a < 0.001 { return String(format: "%.2e", v) }
        if a >= 10 { return String(format: "%.1f", v) }
        return String(format: "%.4g", v)
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
