/** The two parts of a kind 447's answer. */
export type AnswerPart = 'deliveries' | 'ok';

/** kp-447-ok-after-delivery: the OK goes after every delivery, so the client knows they are complete when it arrives. */
export const REQUEST_ANSWER_ORDER: readonly AnswerPart[] = ['deliveries', 'ok'];
