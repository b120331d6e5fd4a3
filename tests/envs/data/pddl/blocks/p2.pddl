; Two goals, one true already after one action: put a on the table, then c on a.
(define (problem blocks-p2)
  (:domain blocks)
  (:objects a b c)
  (:init (arm-empty) (on a b) (on-table b) (on-table c) (clear a) (clear c))
  (:goal (and (on-table a) (on c a))))
