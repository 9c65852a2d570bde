/**
 * Training progress display over `cli-progress`: on a terminal, one live bar per epoch (left on screen when the
 * epoch ends); when the stream is not a terminal (CI logs, redirected output), one plain line per epoch; with
 * `quiet`, nothing.
 */
import cliProgress from 'cli-progress';

export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean };

export interface TrainingProgressOptions {
  /** Total epochs, shown as `epoch k/epochs`. */
  epochs: number;
  /** Steps (mini-batches) in one epoch: the bar's total. */
  stepsPerEpoch: number;
  /** No output at all. Default false. */
  quiet?: boolean;
  /** Where to write. Default process.stderr, so stdout stays free for results. */
  stream?: ProgressStream;
  /** Milliseconds clock, for examples/s; replaceable in tests. Default performance.now. */
  now?: () => number;
}

export interface StepMetrics {
  /** Mean loss over the step's batch. */
  loss: number;
  /** Fraction of the batch classified correctly, when the model reports it. */
  accuracy?: number;
  /** Examples in the step's batch. */
  examples: number;
}

export interface EpochSummary {
  /** 1-based epoch number. */
  epoch: number;
  steps: number;
  examples: number;
  /** Mean loss over the epoch's examples. */
  loss: number;
  /** Mean accuracy over the epoch's examples; NaN when no step reported accuracy. */
  accuracy: number;
  seconds: number;
  examplesPerSec: number;
}

/** Formats an epoch summary as the single line printed in non-TTY mode. */
export function formatEpochLine(
  summary: EpochSummary,
  epochs: number,
  extra: Readonly<Record<string, number>> = {},
): string {
  const parts = [
    `epoch ${summary.epoch}/${epochs}`,
    `${summary.steps} steps`,
    `loss ${summary.loss.toFixed(4)}`,
    ...(Number.isNaN(summary.accuracy) ? [] : [`acc ${summary.accuracy.toFixed(4)}`]),
    `${Math.round(summary.examplesPerSec)} ex/s`,
    `${summary.seconds.toFixed(1)}s`,
    ...Object.entries(extra).map(([name, value]) => `${name} ${formatMetric(value)}`),
  ];
  return parts.join('  ');
}

export class TrainingProgress {
  private readonly epochs: number;
  private readonly stepsPerEpoch: number;
  private readonly stream: ProgressStream;
  private readonly mode: 'quiet' | 'tty' | 'lines';
  private readonly now: () => number;
  private bar: cliProgress.SingleBar | undefined;
  private epoch = 0;
  private steps = 0;
  private examples = 0;
  private lossSum = 0;
  private accuracySum = 0;
  private accuracyExamples = 0;
  private startMs = 0;

  constructor(options: TrainingProgressOptions) {
    this.epochs = options.epochs;
    this.stepsPerEpoch = options.stepsPerEpoch;
    this.stream = options.stream ?? process.stderr;
    this.mode = options.quiet ? 'quiet' : this.stream.isTTY ? 'tty' : 'lines';
    this.now = options.now ?? (() => performance.now());
  }

  /** Starts the next epoch (epochs are numbered from 1). */
  startEpoch(): void {
    this.bar?.stop();
    this.epoch++;
    this.steps = 0;
    this.examples = 0;
    this.lossSum = 0;
    this.accuracySum = 0;
    this.accuracyExamples = 0;
    this.startMs = this.now();
    if (this.mode !== 'tty') return;
    this.bar = new cliProgress.SingleBar(
      {
        stream: this.stream,
        format:
          'epoch {epoch}/{epochs} [{bar}] {value}/{total} | loss {loss} | acc {accuracy} | {rate} ex/s | ' +
          '{duration_formatted}{extra}',
        barsize: 24,
        clearOnComplete: false,
        hideCursor: null,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(this.stepsPerEpoch, 0, this.payload());
  }

  /** Records one finished step. */
  step(metrics: StepMetrics): void {
    this.steps++;
    this.examples += metrics.examples;
    this.lossSum += metrics.loss * metrics.examples;
    if (metrics.accuracy !== undefined) {
      this.accuracySum += metrics.accuracy * metrics.examples;
      this.accuracyExamples += metrics.examples;
    }
    this.bar?.update(this.steps, this.payload());
  }

  /** Ends the epoch: leaves the bar on screen (TTY) or prints one line; `extra` adds metrics such as test accuracy. */
  endEpoch(extra: Readonly<Record<string, number>> = {}): EpochSummary {
    const summary = this.summary();
    if (this.bar) {
      const extraText = Object.entries(extra)
        .map(([name, value]) => ` | ${name} ${formatMetric(value)}`)
        .join('');
      this.bar.update(this.steps, { ...this.payload(), extra: extraText });
      this.bar.stop();
      this.bar = undefined;
    } else if (this.mode === 'lines') {
      this.stream.write(`${formatEpochLine(summary, this.epochs, extra)}\n`);
    }
    return summary;
  }

  /** Stops a bar left running (e.g. when training throws); safe to call more than once. */
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  private summary(): EpochSummary {
    const seconds = (this.now() - this.startMs) / 1000;
    return {
      epoch: this.epoch,
      steps: this.steps,
      examples: this.examples,
      loss: this.examples > 0 ? this.lossSum / this.examples : NaN,
      accuracy: this.accuracyExamples > 0 ? this.accuracySum / this.accuracyExamples : NaN,
      seconds,
      examplesPerSec: seconds > 0 ? this.examples / seconds : 0,
    };
  }

  private payload(): Record<string, string | number> {
    const s = this.summary();
    return {
      epoch: this.epoch,
      epochs: this.epochs,
      loss: Number.isNaN(s.loss) ? '-' : s.loss.toFixed(4),
      accuracy: Number.isNaN(s.accuracy) ? '-' : s.accuracy.toFixed(4),
      rate: Math.round(s.examplesPerSec),
      extra: '',
    };
  }
}

function formatMetric(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(4);
}
