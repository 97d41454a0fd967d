// Stratified k-fold assignment, reproducing scikit-learn's StratifiedKFold(shuffle=False) exactly
// (sklearn/model_selection/_split.py, _make_test_folds), so cross-validation scores are comparable.

/// The test fold (0..<k) of each sample.
public func stratifiedFolds(labels: [Int32], k: Int) -> [Int] {
    // Classes ordered by first appearance, as np.unique(y_idx) orders them in _make_test_folds.
    var order: [Int32] = [], counts: [Int32: Int] = [:]
    for l in labels { if counts[l] == nil { order.append(l) }; counts[l, default: 0] += 1 }
    // Position ranges of each class in the sorted-by-class list; allocation[i] of a class is how many
    // of its positions p satisfy p % k == i (numpy's y_order[i::k]).
    var start = 0
    var folds = [Int](repeating: 0, count: labels.count)
    for c in order {
        let n = counts[c] ?? 0
        var assignment: [Int] = []
        assignment.reserveCapacity(n)
        for i in 0..<k {
            let m = (start..<(start + n)).reduce(0) { $1 % k == i ? $0 + 1 : $0 }
            assignment += Array(repeating: i, count: m)
        }
        var next = 0
        for (s, l) in labels.enumerated() where l == c { folds[s] = assignment[next]; next += 1 }
        start += n
    }
    return folds
}

/// Indices of the training and test samples of fold `f`.
func split(folds: [Int], f: Int) -> (train: [Int], test: [Int]) {
    var train: [Int] = [], test: [Int] = []
    for (i, g) in folds.enumerated() { if g == f { test.append(i) } else { train.append(i) } }
    return (train, test)
}
