import { reason, type Prefix } from '../../protocol/profile.js';

/** A rule's "no", carried to the wire as an OK false or CLOSED message. */
export class Refusal {
  constructor(
    readonly prefix: Prefix,
    readonly detail: string,
  ) {}
  get message(): string {
    return reason(this.prefix, this.detail);
  }
}
