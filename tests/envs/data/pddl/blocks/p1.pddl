; a on b, c on the table; goal: a tower c-b-a from the top: (on c b) (on b a).
(define (problem blocks-p1)
  (:domain blocks)
  (:objects a b c)
  (:init (arm-empty) (on a b) (on-table b) (on-table c) (clear a) (clear c))
  (:goal (and (on c b) (on b a))))
