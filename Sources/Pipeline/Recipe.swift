// How codes were made, read back from the provenance a classifier or codes file records, so predict
// and similar compute a new image's codes exactly as the stored ones were computed.
import ArgumentParser
import Extract
import Foundation

struct Recipe {
    let provenance: [String: String]

    private func field(_ key: String) throws -> String {
        guard let v = provenance[key] else {
            throw Failure("the recorded provenance has no `\(key)`; it was not written by `pipeline extract`")
        }
        return v
    }

    var architecture: Architecture {
        get throws {
            let name = try field("model")
            guard let a = Architecture(rawValue: name) else {
                throw Failure("recorded model `\(name)` is not one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return a
        }
    }

    var settings: CodeSettings {
        get throws {
            let pool = try field("pooling")
            guard let pooling = Pooling(pool) else { throw Failure("recorded pooling `\(pool)` is not avg, max or grid:K") }
            let tta = provenance["tta"] ?? "none"
            guard let augmentation = Augmentation(rawValue: tta) else { throw Failure("recorded tta `\(tta)` is not none, flip or ten-crop") }
            return CodeSettings(layers: [try field("layer")], pooling: pooling, relu: provenance["relu"] != "false",
                                l2Normalize: provenance["l2_normalize"] == "true", augmentation: augmentation)
        }
    }

    /// Parses Preprocessing.description: "resize=256 crop=224 mean=0.485,0.456,0.406 std=0.229,0.224,0.225".
    var preprocessing: Preprocessing {
        get throws {
            let text = try field("preprocessing")
            var parts: [String: String] = [:]
            for item in text.split(separator: " ") {
                let kv = item.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { parts[String(kv[0])] = String(kv[1]) }
            }
            func triple(_ k: String) -> [Float]? {
                let v = parts[k]?.split(separator: ",").compactMap { Float($0) } ?? []
                return v.count == 3 ? v : nil
            }
            guard let resize = parts["resize"].flatMap({ Int($0) }), let crop = parts["crop"].flatMap({ Int($0) }),
                  let mean = triple("mean"), let std = triple("std") else {
                throw Failure("recorded preprocessing `\(text)` is not `resize=R crop=C mean=r,g,b std=r,g,b`")
            }
            return Preprocessing(resize: resize, crop: crop, mean: mean, std: std)
        }
    }

    var background: (UInt8, UInt8, UInt8)? {
        guard let b = provenance["background"] else { return nil }
        let v = b.split(separator: ",").compactMap { UInt8($0) }
        return v.count == 3 ? (v[0], v[1], v[2]) : nil
    }

    /// The recorded weights: `--weights PATH` if given, else the recorded file name in the weights cache;
    /// either way its SHA-256 must be the recorded one.
    func weightsPath(override: String?) throws -> String {
        let name = try field("weights_file"), expected = try field("weights_sha256")
        let path = override ?? Cache.weights.appendingPathComponent(name).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw Failure("\(path): no such file; these codes were made with weights `\(name)` (sha256 \(expected)); pass --weights PATH")
        }
        let actual = try sha256Hex(of: URL(fileURLWithPath: path))
        guard actual == expected else {
            throw Failure("\(path): weights_sha256 is \(actual), but the codes were made with `\(name)` of sha256 \(expected); pass --weights with that file")
        }
        return path
    }

    /// Whether the codes came from an ONNX file (`pipeline extract --onnx`), recorded as its weights file.
    var isONNX: Bool { provenance["model_format"] == "onnx" }

    /// The network with the recorded settings, ready to make codes for new images.
    func extractor(weights override: String?) throws -> CodeExtractor {
        let path = try weightsPath(override: override)
        let settings = try self.settings
        let net = isONNX
            ? try Model(onnx: path, layers: settings.layers)
            : try Model(try architecture, weights: StateDict.load(path: path), layers: settings.layers)
        return try CodeExtractor(model: net, settings: settings, preprocessing: try preprocessing)
    }

    /// Codes of `layer` for image files, [files.count, dimension], made as the recorded ones were.
    func codes(for files: [String], extractor: CodeExtractor, batch: Int = 8) throws -> [Float] {
        let layer = extractor.settings.layers[0]
        var out: [Float] = []
        for start in stride(from: 0, to: files.count, by: batch) {
            let inputs = try files[start..<min(start + batch, files.count)].map { path in
                extractor.input(for: try ImageDecoder.decode(path: path, background: background))
            }
            guard let c = try extractor.codes(inputs: inputs)[layer] else {
                throw Failure("the network gave no output for layer `\(layer)`")
            }
            out += c
        }
        return out
    }

    /// The `pipeline extract` command line that makes codes like these.
    func extractCommand(data: String, out: String) -> String {
        var args = ["pipeline extract"]
        args += isONNX ? ["--onnx", provenance["weights_file"] ?? "?"]
                       : ["--model", provenance["model"] ?? "?", "--weights", provenance["weights_file"] ?? "?"]
        args += ["--layer", provenance["layer"] ?? "?", "--pool", provenance["pooling"] ?? "avg"]
        if let p = try? preprocessing {
            args += ["--resize", "\(p.resize)", "--crop", "\(p.crop)",
                     "--mean", p.mean.map { "\($0)" }.joined(separator: ","), "--std", p.std.map { "\($0)" }.joined(separator: ",")]
        }
        if provenance["relu"] == "false" { args.append("--no-relu") }
        if provenance["l2_normalize"] == "true" { args.append("--l2-normalize") }
        if let t = provenance["tta"], t != "none" { args += ["--tta", t] }
        if let b = provenance["background"] { args += ["--background", b] }
        return (args + ["--data", data, "--out", out]).joined(separator: " ")
    }
}
