// The HTML report of `pipeline run`: one self-contained file (inline CSS and SVG, no scripts, no
// network fetches) with accuracy against layer depth per classifier, the results table, the confusion
// matrix of the best setting, and the recommendation.
import Foundation

extension Report {
    var html: String {
        var body = "<h1>\(escape(config.title))</h1>\n"
        let data = "train <code>\(escape(config.data.train))</code>"
            + (config.data.val.map { ", validation <code>\(escape($0))</code>" } ?? ", \(config.data.folds)-fold stratified cross-validation")
            + (config.data.perClass.map { ", at most \($0) images per class" } ?? "")
        body += "<p class=meta>Data: \(data). Training images per class: \(trainCounts.map(String.init).joined(separator: ", ")).</p>\n"

        body += "<h2>Accuracy against layer depth</h2>\n"
        let groups = Dictionary(grouping: rows) { "\($0.model)|\($0.pooling)|\($0.tta)" }
        var order: [String] = []
        for r in rows where !order.contains("\(r.model)|\(r.pooling)|\(r.tta)") { order.append("\(r.model)|\(r.pooling)|\(r.tta)") }
        for key in order {
            guard let g = groups[key], let first = g.first else { continue }
            body += "<figure>" + chart(g) + "<figcaption>\(escape(first.model)), \(escape(first.pooling)) pooling, tta \(escape(first.tta)): "
                + "layers in forward order (depth = position among the network's taps), one line per classifier.</figcaption></figure>\n"
        }

        if let b = best {
            body += "<h2>Confusion matrix of the best setting</h2>\n<p>\(escape(b.model)) <code>\(escape(b.layer))</code>, "
                + "\(escape(b.pooling)) pooling, \(escape(b.classifier)): " + String(format: "%.2f%%", 100 * b.accuracy)
                + " (\(escape(b.evaluation)), \(b.testImages) images). Rows: true class; columns: predicted.</p>\n"
            body += confusionTable(b)
        }

        body += "<h2>Results</h2>\n" + resultsTable()
        body += "<h2>Recommendation</h2>\n" + recommendation.map { "<p>\(inlineCode(escape($0)))</p>" }.joined(separator: "\n") + "\n"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(config.title))</title>
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
            h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
            .meta { color: #555; } figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; }
            table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
            td, th { padding: 3px 8px; border: 1px solid #ddd; text-align: right; } th { background: #f4f4f4; }
            td.l, th.l { text-align: left; } tr.best td { font-weight: bold; background: #fff7d6; }
            table.cm td { width: 2.6em; text-align: center; }
            code { background: #f2f2f2; padding: 0 3px; }
            </style></head><body>
            \(body)</body></html>

            """
    }

    /// Accuracy (y) against layer order (x) for each classifier of one model, pooling and tta.
    private func chart(_ rows: [ResultRow]) -> String {
        let layers = Dictionary(rows.map { ($0.depth, $0.layer) }, uniquingKeysWith: { a, _ in a }).sorted { $0.key < $1.key }
        var classifiers: [String] = []
        for r in rows where !classifiers.contains(r.classifier) { classifiers.append(r.classifier) }
        let w = 1040.0, h = 380.0, left = 60.0, right = 260.0, top = 20.0, bottom = 70.0
        let pw = w - left - right, ph = h - top - bottom
        let accs = rows.map { 100 * $0.accuracy }
        // The y range: whole multiples of 5 around the data, so small differences between layers show.
        var lo = floor(((accs.min() ?? 0) - 2) / 5) * 5, hi = ceil(((accs.max() ?? 100) + 2) / 5) * 5
        lo = max(0, lo); hi = min(100, hi); if hi - lo < 10 { lo = max(0, hi - 10) }
        func x(_ i: Int) -> Double { layers.count == 1 ? left + pw / 2 : left + pw * Double(i) / Double(layers.count - 1) }
        func y(_ a: Double) -> Double { top + ph * (1 - (a - lo) / (hi - lo)) }
        var s = "<svg width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"system-ui, sans-serif\" font-size=\"12\">"
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"#fafafa\" stroke=\"#ccc\"/>"
        let step = (hi - lo) > 30 ? 10.0 : (hi - lo) > 12 ? 5.0 : 2.0
        var t = lo
        while t <= hi + 1e-9 {
            s += "<line x1=\"\(left)\" x2=\"\(left + pw)\" y1=\"\(y(t))\" y2=\"\(y(t))\" stroke=\"#e4e4e4\"/>"
            s += "<text x=\"\(left - 6)\" y=\"\(y(t) + 4)\" text-anchor=\"end\">\(short(t))</text>"
            t += step
        }
        s += "<text transform=\"translate(16,\(top + ph / 2)) rotate(-90)\" text-anchor=\"middle\">accuracy %</text>"
        for (i, l) in layers.enumerated() {
            s += "<line x1=\"\(x(i))\" x2=\"\(x(i))\" y1=\"\(top + ph)\" y2=\"\(top + ph + 5)\" stroke=\"#888\"/>"
            s += "<text x=\"\(x(i))\" y=\"\(top + ph + 19)\" text-anchor=\"middle\">\(escape(l.value))</text>"
            s += "<text x=\"\(x(i))\" y=\"\(top + ph + 33)\" text-anchor=\"middle\" fill=\"#888\" font-size=\"10\">depth \(l.key)</text>"
        }
        s += "<text x=\"\(left + pw / 2)\" y=\"\(h - 8)\" text-anchor=\"middle\">layer (forward order)</text>"
        let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
        for (k, c) in classifiers.enumerated() {
            let colour = palette[k % palette.count]
            let pts = layers.enumerated().compactMap { i, l -> (Double, Double, Double)? in
                rows.first { $0.classifier == c && $0.depth == l.key }.map { (x(i), y(100 * $0.accuracy), 100 * $0.accuracy) }
            }
            s += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(pts.map { "\($0.0),\($0.1)" }.joined(separator: " "))\"/>"
            for p in pts {
                s += "<circle cx=\"\(p.0)\" cy=\"\(p.1)\" r=\"4\" fill=\"\(colour)\"><title>\(escape(c)): \(String(format: "%.2f%%", p.2))</title></circle>"
            }
            let ly = top + 10 + 20 * Double(k)
            s += "<line x1=\"\(left + pw + 15)\" x2=\"\(left + pw + 40)\" y1=\"\(ly)\" y2=\"\(ly)\" stroke=\"\(colour)\" stroke-width=\"3\"/>"
            s += "<text x=\"\(left + pw + 46)\" y=\"\(ly + 4)\">\(escape(c))</text>"
        }
        return s + "</svg>"
    }

    private func confusionTable(_ r: ResultRow) -> String {
        let peak = max(1, r.confusion.flatMap { $0 }.max() ?? 1)
        var s = "<table class=cm><tr><th class=l>true \\ predicted</th>" + r.classes.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
        for (t, row) in r.confusion.enumerated() {
            s += "<tr><th class=l>\(escape(r.classes[t]))</th>"
            for (p, n) in row.enumerated() {
                let alpha = Double(n) / Double(peak)
                let colour = t == p ? "rgba(31,119,180,\(String(format: "%.2f", alpha)))" : "rgba(214,39,40,\(String(format: "%.2f", min(1, 3 * alpha))))"
                let ink = alpha > 0.5 ? "#fff" : "#222"
                s += "<td style=\"background:\(n == 0 ? "transparent" : colour);color:\(ink)\">\(n)</td>"
            }
            s += "</tr>\n"
        }
        return s + "</table>\n"
    }

    private func resultsTable() -> String {
        let header = ["model", "layer", "node", "depth", "pooling", "tta", "classifier", "code length", "accuracy %", "evaluation", "C", "time s"]
        let textual: Set<String> = ["model", "layer", "node", "pooling", "tta", "classifier", "evaluation"]
        var s = "<table><tr>" + header.map { "<th\(textual.contains($0) ? " class=l" : "")>\(escape($0))</th>" }.joined() + "</tr>\n"
        let top = best
        for r in rows {
            let cells: [(String, Bool)] = [(r.model, true), (r.layer, true), (r.node, true), ("\(r.depth)", false), (r.pooling, true),
                                           (r.tta, true), (r.classifier, true), ("\(r.codeLength)", false),
                                           (String(format: "%.2f", 100 * r.accuracy), false), (r.evaluation, true), (short(r.C), false),
                                           (String(format: "%.2f", r.seconds), false)]
            s += "<tr\(r == top ? " class=best" : "")>" + cells.map { "<td\($0.1 ? " class=l" : "")>\(escape($0.0))</td>" }.joined() + "</tr>\n"
        }
        return s + "</table>\n"
    }
}

private func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

/// `name` in the recommendation's text becomes <code>name</code>.
private func inlineCode(_ s: String) -> String {
    var out = "", open = false
    for ch in s {
        if ch == "`" { out += open ? "</code>" : "<code>"; open.toggle() } else { out.append(ch) }
    }
    return out + (open ? "</code>" : "")
}
