//! `--svg PATH`: sustained per-shard write throughput against the number of shards fed, with
//! the Kinesis per-shard target (1 MiB/s) as a line (plotters, SVG backend only).

use std::path::Path;

use plotters::prelude::*;

use super::scale::Scale;
use super::DurabilityArg;

/// Draw the scale steps into an SVG file at `path`.
pub(crate) fn write_svg(path: &Path, scale: &Scale, durability: DurabilityArg) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (960, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let x_max = scale.steps.iter().map(|s| s.shards).max().unwrap_or(1) as f64 * 1.08;
    let y_max = scale.steps.iter().map(|s| s.per_shard_mib_per_s()).fold(1.0f64, f64::max) * 1.25;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("shardlog: sustained per-shard write throughput vs shards ({} durability)", durability.name()),
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("shards, each fed 1,000 records/s and 1 MiB/s")
        .y_desc("per-shard MiB/s acknowledged")
        .draw()
        .map_err(|x| e(&x))?;
    let target = RGBColor(200, 30, 30);
    chart
        .draw_series(LineSeries::new(vec![(0.0, 1.0), (x_max, 1.0)], target.stroke_width(2)))
        .map_err(|x| e(&x))?
        .label("Kinesis per-shard target: 1 MiB/s")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], target.stroke_width(2)));
    let mean = RGBColor(30, 90, 200);
    let pts: Vec<(f64, f64)> = scale.steps.iter().map(|s| (f64::from(s.shards), s.per_shard_mib_per_s())).collect();
    chart
        .draw_series(LineSeries::new(pts.clone(), mean.stroke_width(2)))
        .map_err(|x| e(&x))?
        .label("mean per shard")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], mean.stroke_width(2)));
    let low = RGBColor(120, 120, 120);
    let mins: Vec<(f64, f64)> = scale.steps.iter().map(|s| (f64::from(s.shards), s.min_shard_mib_per_s())).collect();
    chart
        .draw_series(LineSeries::new(mins, low.stroke_width(1)))
        .map_err(|x| e(&x))?
        .label("slowest shard")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], low.stroke_width(1)));
    let ok = RGBColor(20, 150, 60);
    chart
        .draw_series(scale.steps.iter().map(|s| {
            let color = if s.sustained { ok } else { target };
            Circle::new((f64::from(s.shards), s.per_shard_mib_per_s()), 5, color.filled())
        }))
        .map_err(|x| e(&x))?
        .label("step (green: sustained, red: not)")
        .legend(move |(x, y)| Circle::new((x + 10, y), 5, ok.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}
