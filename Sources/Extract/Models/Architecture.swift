// The architectures the engine builds, as data: input size, normalisation, default code layer,
// Caffe-style layer aliases, and torchvision's checkpoint file names.

public enum Architecture: String, CaseIterable, Sendable, Codable {
    case alexnet
    case vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn
    case resnet18, resnet34, resnet50, resnet101, resnet152
    case efficientnet_lite0
    case squeezenet1_0, squeezenet1_1
    case densenet121, densenet161, densenet169, densenet201
    case googlenet, inception_v3
    case shufflenet_v2_x0_5, shufflenet_v2_x1_0
    case mobilenet_v2, mobilenet_v3_small, mobilenet_v3_large

    public enum Family: Sendable {
        case alexnet, vgg, resnet, efficientnetLite, squeezenet, densenet, googlenet, inception, shufflenet, mobilenetV2, mobilenetV3
    }

    public var family: Family {
        switch self {
        case .alexnet: return .alexnet
        case .vgg11, .vgg11_bn, .vgg13, .vgg13_bn, .vgg16, .vgg16_bn, .vgg19, .vgg19_bn: return .vgg
        case .resnet18, .resnet34, .resnet50, .resnet101, .resnet152: return .resnet
        case .efficientnet_lite0: return .efficientnetLite
        case .squeezenet1_0, .squeezenet1_1: return .squeezenet
        case .densenet121, .densenet161, .densenet169, .densenet201: return .densenet
        case .googlenet: return .googlenet
        case .inception_v3: return .inception
        case .shufflenet_v2_x0_5, .shufflenet_v2_x1_0: return .shufflenet
        case .mobilenet_v2: return .mobilenetV2
        case .mobilenet_v3_small, .mobilenet_v3_large: return .mobilenetV3
        }
    }

    /// Side of the square network input, and of the shorter side before the centre crop: the
    /// evaluation transform of torchvision's weights (`<Arch>_Weights.IMAGENET1K_V1.transforms`):
    /// Resize(256), CenterCrop(224), except Inception v3's Resize(342), CenterCrop(299).
    public var inputSize: Int { self == .inception_v3 ? 299 : 224 }
    public var resizeSize: Int { self == .inception_v3 ? 342 : 256 }

    /// Per-channel normalisation in 0..1 units. torchvision: ImageNet statistics. EfficientNet-Lite:
    /// (x - 127) / 128 in 0..255 units (efficientnet_lite_builder.py's MEAN_RGB / STDDEV_RGB).
    public var mean: [Float] {
        family == .efficientnetLite ? [127 / 255, 127 / 255, 127 / 255] : [0.485, 0.456, 0.406]
    }
    public var std: [Float] {
        family == .efficientnetLite ? [128 / 255, 128 / 255, 128 / 255] : [0.229, 0.224, 0.225]
    }

    /// The layer whose codes `pipeline extract` writes when none is named.
    public var defaultLayer: String {
        switch family {
        case .alexnet, .vgg: return "fc7"
        case .resnet, .efficientnetLite, .googlenet, .inception: return "avgpool"
        case .squeezenet: return "features"
        case .densenet, .mobilenetV2: return "adaptive_avg_pool2d"
        case .shufflenet: return "mean"
        case .mobilenetV3: return "classifier.1"  // the penultimate layer (1280 or 1024, after Hardswish)
        }
    }

    /// torchvision's ImageNet checkpoint (https://download.pytorch.org/models/<file>); the hex
    /// after the last dash is the prefix of its sha256, which torchvision checks on download.
    public var torchvisionFile: String? {
        switch self {
        case .alexnet: return "alexnet-owt-7be5be79.pth"
        case .vgg11: return "vgg11-8a719046.pth"
        case .vgg11_bn: return "vgg11_bn-6002323d.pth"
        case .vgg13: return "vgg13-19584684.pth"
        case .vgg13_bn: return "vgg13_bn-abd245e5.pth"
        case .vgg16: return "vgg16-397923af.pth"
        case .vgg16_bn: return "vgg16_bn-6c64b313.pth"
        case .vgg19: return "vgg19-dcbb9e9d.pth"
        case .vgg19_bn: return "vgg19_bn-c79401a0.pth"
        case .resnet18: return "resnet18-f37072fd.pth"
        case .resnet34: return "resnet34-b627a593.pth"
        case .resnet50: return "resnet50-0676ba61.pth"
        case .resnet101: return "resnet101-63fe2227.pth"
        case .resnet152: return "resnet152-394f9c45.pth"
        case .efficientnet_lite0: return nil
        case .squeezenet1_0: return "squeezenet1_0-b66bff10.pth"
        case .squeezenet1_1: return "squeezenet1_1-b8a52dc0.pth"
        case .densenet121: return "densenet121-a639ec97.pth"
        case .densenet161: return "densenet161-8d451a50.pth"
        case .densenet169: return "densenet169-b2777c0a.pth"
        case .densenet201: return "densenet201-c1103571.pth"
        case .googlenet: return "googlenet-1378be20.pth"
        case .inception_v3: return "inception_v3_google-0cc3c7bd.pth"
        case .shufflenet_v2_x0_5: return "shufflenetv2_x0.5-f707e7126e.pth"
        case .shufflenet_v2_x1_0: return "shufflenetv2_x1-5666bf0f80.pth"
        case .mobilenet_v2: return "mobilenet_v2-b0353104.pth"
        case .mobilenet_v3_small: return "mobilenet_v3_small-047dcff4.pth"
        case .mobilenet_v3_large: return "mobilenet_v3_large-8738ca79.pth"
        }
    }

    /// Checkpoint modules the network does not run: torchvision's GoogLeNet and Inception v3
    /// checkpoints carry their auxiliary classifiers, which torchvision loads and then drops
    /// (`model.aux1 = None`, `model.AuxLogits = None`). Every other key must still be used.
    public var unusedCheckpointModules: [String] {
        switch family {
        case .googlenet: return ["aux1", "aux2"]
        case .inception: return ["AuxLogits"]
        default: return []
        }
    }

    /// Caffe-style names users know, mapped to node names. ReLU'd layers mean the output after
    /// their ReLU, as Caffe's in-place ReLU left its blobs.
    public var aliases: [String: String] {
        switch family {
        case .alexnet:
            return ["conv1": "features.1", "pool1": "features.2", "conv2": "features.4", "pool2": "features.5",
                    "conv3": "features.7", "conv4": "features.9", "conv5": "features.11", "pool5": "features.12",
                    "fc6": "classifier.2", "fc7": "classifier.5", "fc8": "classifier.6"]
        case .vgg:
            return VGG.aliases(config: VGG.config(self), batchNorm: VGG.batchNorm(self))
        case .resnet:
            // `conv1` is torchvision's node (the convolution's own output); Caffe's conv1 blob,
            // after BatchNorm and ReLU, is the node `relu`.
            return ["pool1": "maxpool", "pool5": "avgpool"]
        case .efficientnetLite:
            var a = ["features": "head", "pool": "avgpool", "fc": "_fc", "logits": "_fc"]
            var last = -1
            for (s, stage) in EfficientNetLite.stages.enumerated() {
                last += stage.repeats
                a["stage\(s + 1)"] = "_blocks.\(last)"
            }
            return a
        case .squeezenet:
            return SqueezeNet.aliases(self)
        case .densenet, .mobilenetV2:
            return ["avgpool": "adaptive_avg_pool2d", "pool5": "adaptive_avg_pool2d"]
        case .googlenet:
            return ["pool5": "avgpool"]
        case .inception:
            return ["pool_3": "avgpool", "pool5": "avgpool"]  // pool_3: TF's name for the 2048-d codes (FID's)
        case .shufflenet:
            return ["avgpool": "mean", "pool5": "mean"]
        case .mobilenetV3:
            return ["pool5": "avgpool", "hidden": "classifier.1"]
        }
    }
}

/// The architecture constants the inference models are built from, for the trainable networks
/// (Sources/Train), so that both follow one definition.
extension Architecture {
    /// ResNet: blocks per stage and whether they are bottlenecks (torchvision's resnet18 ... resnet152).
    public var resnetBlocks: (counts: [Int], bottleneck: Bool) { ResNet.blocks(self) }

    /// VGG: torchvision's cfg, output channels per convolution and nil for a max pool; and whether
    /// each convolution has a BatchNorm after it.
    public var vggConfig: [Int?] {
        VGG.config(self).map { if case .conv(let o) = $0 { return o } else { return nil } }
    }
    public var vggBatchNorm: Bool { VGG.batchNorm(self) }

    /// EfficientNet-Lite0's block stages (efficientnet_lite_builder.py) and its BatchNorm eps.
    public static var efficientNetLiteStages: [(repeats: Int, kernel: Int, stride: Int, expand: Int, input: Int, output: Int)] {
        EfficientNetLite.stages.map { ($0.repeats, $0.kernel, $0.stride, $0.expand, $0.input, $0.output) }
    }
    public static var efficientNetLiteEps: Double { EfficientNetLite.eps }
}
