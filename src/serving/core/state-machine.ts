/**
 * The lifecycle of one servable version (TF Serving's ManagerState): START → LOADING → AVAILABLE → UNLOADING → END,
 * where any error also ends in END (with the error kept as the version's status). The table below is the only place
 * that says which transitions exist; every transition is published as an event for metrics and the status API.
 */
import { Internal } from '../../errors.js';
import type { VersionState } from './types.js';

export const ALLOWED_TRANSITIONS: Readonly<Record<VersionState, readonly VersionState[]>> = {
  START: ['LOADING', 'END'],
  LOADING: ['AVAILABLE', 'END'],
  AVAILABLE: ['UNLOADING'],
  UNLOADING: ['END'],
  END: [],
};

export interface StatusError {
  code: string;
  message: string;
}

export interface TransitionEvent {
  model: string;
  version: number;
  /** null for the first event, when the version becomes known (START). */
  from: VersionState | null;
  to: VersionState;
  error?: StatusError;
  /** Date.now() of the transition. */
  at: number;
}

export type TransitionListener = (event: TransitionEvent) => void;

export class VersionStateMachine {
  private current: VersionState = 'START';
  private lastError: StatusError | undefined;

  constructor(
    readonly model: string,
    readonly version: number,
    private readonly emit: TransitionListener,
  ) {
    emit({ model, version, from: null, to: 'START', at: Date.now() });
  }

  get state(): VersionState {
    return this.current;
  }

  get error(): StatusError | undefined {
    return this.lastError;
  }

  /** Moves to `to`; throws Internal for a transition the table does not allow (a manager bug, never user input). */
  transition(to: VersionState, error?: StatusError): void {
    const from = this.current;
    if (!ALLOWED_TRANSITIONS[from].includes(to)) {
      throw new Internal(`illegal state transition ${from} → ${to} for version ${this.version} of model ${this.model}`);
    }
    this.current = to;
    if (error) this.lastError = error;
    this.emit({ model: this.model, version: this.version, from, to, ...(error ? { error } : {}), at: Date.now() });
  }
}
