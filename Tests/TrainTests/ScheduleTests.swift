// Learning-rate schedules against Golden/make_schedules.py (torch's recursive get_lr formulas,
// transcribed), and the parameter groups' initial rates.
import Foundation
import Train
import XCTest

final class ScheduleTests: XCTestCase {
    func testScheduleClosedFormsMatchTorchRecursions() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/schedules.json")
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 15)
        for c in cases {
            let base = try XCTUnwrap(c["base"] as? Double)
            let expected = try XCTUnwrap(c["lrs"] as? [Double])
            let schedule: Schedule
            if c["kind"] as? String == "step" {
                schedule = .step(stepSize: try XCTUnwrap(c["step_size"] as? Int), gamma: try XCTUnwrap(c["gamma"] as? Double))
            } else {
                schedule = .cosine(tMax: try XCTUnwrap(c["t_max"] as? Int), etaMin: try XCTUnwrap(c["eta_min"] as? Double))
            }
            var worst = 0.0
            for (epoch, lr) in expected.enumerated() {
                let ours = schedule.rate(base: base, epoch: epoch)
                worst = max(worst, abs(ours - lr) / max(abs(lr), 1e-300))
            }
            XCTAssertLessThanOrEqual(worst, 1e-12, "\(schedule) from \(base): max relative difference \(worst)")
        }
    }

    func testGroupsTakeHeadAndStageMultipliers() {
        let rates = LearningRates(base: 0.01, headMultiplier: 10, stageMultipliers: ["layer4": 2])
        XCTAssertEqual(rates.initial(stage: "layer3", isHead: false), 0.01)
        XCTAssertEqual(rates.initial(stage: "layer4", isHead: false), 0.02)
        XCTAssertEqual(rates.initial(stage: "fc", isHead: true), 0.1, accuracy: 1e-15)
        XCTAssertEqual(Schedule.constant.rate(base: 0.5, epoch: 9), 0.5)
    }
}
