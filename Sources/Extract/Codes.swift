// From network outputs to CNN codes: ReLU, spatial pooling of convolutional taps, test-time
// augmentation averaging and L2 normalisation, one fixed-length vector per image and layer.

/// Test-time augmentation: codes averaged over views of each image (as in Razavian et al. 2014, CNN codes).
public enum Augmentation: String, Sendable, CaseIterable {
    case none, flip, tenCrop = "ten-crop"
}

/// What turns a layer's output into codes; recorded in the codes file.
public struct CodeSettings: Equatable, Sendable {
    public var layers: [String]
    public var pooling: Pooling = .avg
    /// Threshold at zero, as the network's ReLU does; off only with --no-relu.
    public var relu = true
    public var l2Normalize = false
    public var augmentation: Augmentation = .none

    public init(layers: [String], pooling: Pooling = .avg, relu: Bool = true, l2Normalize: Bool = false,
                augmentation: Augmentation = .none) {
        self.layers = layers
        self.pooling = pooling
        self.relu = relu
        self.l2Normalize = l2Normalize
        self.augmentation = augmentation
    }

    public var description: String {
        "pooling=\(pooling) relu=\(relu) l2=\(l2Normalize) tta=\(augmentation.rawValue)"
    }
}

/// Runs a model on preprocessed images and turns the requested taps into codes.
public struct CodeExtractor {
    public let model: Model
    public let settings: CodeSettings
    public let preprocessing: Preprocessing
    /// Code length per layer, in `settings.layers` order.
    public let dimensions: [(layer: String, length: Int)]

    public init(model: Model, settings: CodeSettings, preprocessing: Preprocessing) throws {
        self.model = model
        self.settings = settings
        self.preprocessing = preprocessing
        let listed = try model.layers(size: preprocessing.crop)
        dimensions = try settings.layers.map { layer in
            let node = try model.resolve(layer)
            let shape = listed.first { $0.name == node }?.shape ?? []
            return (layer, settings.pooling.length(of: shape))
        }
    }

    /// The network input for each image's views: [views, 3, crop, crop] per image, stacked.
    func views(of image: RGBImage) -> [[Float]] {
        switch settings.augmentation {
        case .none:
            return [preprocessing.apply(image)]
        case .flip:
            return [preprocessing.apply(image), preprocessing.apply(horizontalFlip(image))]
        case .tenCrop:
            let (w, h) = resizedSize(width: image.width, height: image.height, shorterSide: preprocessing.resize)
            let resized = resize(image, width: w, height: h)
            return tenCrop(resized, size: preprocessing.crop).map { preprocessing.tensor(from: $0) }
        }
    }

    /// Preprocessed input for one image, all views concatenated: [views * 3 * crop * crop].
    public func input(for image: RGBImage) -> [Float] {
        views(of: image).flatMap { $0 }
    }

    public var viewsPerImage: Int {
        switch settings.augmentation {
        case .none: return 1
        case .flip: return 2
        case .tenCrop: return 10
        }
    }

    /// Codes for a batch of preprocessed inputs (from `input(for:)`), per layer [n * length].
    public func codes(inputs: [[Float]]) throws -> [String: [Float]] {
        let v = viewsPerImage, s = preprocessing.crop
        let n = inputs.count
        let x = Tensor(shape: [n * v, 3, s, s], data: inputs.flatMap { $0 })
        let outputs = try model.run(x, layers: settings.layers)
        var result: [String: [Float]] = [:]
        for (layer, length) in dimensions {
            guard var out = outputs[layer] else { continue }
            if settings.relu { out = relu(out) }
            let pooled = settings.pooling.apply(out)   // [n * v, length]
            var codes = [Float](repeating: 0, count: n * length)
            for img in 0..<n {
                for view in 0..<v {
                    let src = (img * v + view) * length
                    for j in 0..<length { codes[img * length + j] += pooled.data[src + j] / Float(v) }
                }
                if settings.l2Normalize {
                    let norm = (0..<length).reduce(Float(0)) { $0 + codes[img * length + $1] * codes[img * length + $1] }.squareRoot()
                    if norm > 0 { for j in 0..<length { codes[img * length + j] /= norm } }
                }
            }
            result[layer] = codes
        }
        return result
    }
}
