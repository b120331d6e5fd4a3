; A typed domain with a constant (written for these tests): a truck carries packages along roads.
(define (domain delivery)
  (:requirements :strips :typing)
  (:types place vehicle package)
  (:constants depot - place)
  (:predicates (at ?v - vehicle ?p - place) (pkg-at ?k - package ?p - place) (in ?k - package ?v - vehicle)
               (road ?from - place ?to - place))
  (:action drive
    :parameters (?v - vehicle ?from - place ?to - place)
    :precondition (and (at ?v ?from) (road ?from ?to))
    :effect (and (at ?v ?to) (not (at ?v ?from))))
  (:action load
    :parameters (?k - package ?v - vehicle ?p - place)
    :precondition (and (at ?v ?p) (pkg-at ?k ?p))
    :effect (and (in ?k ?v) (not (pkg-at ?k ?p))))
  (:action unload
    :parameters (?k - package ?v - vehicle ?p - place)
    :precondition (and (at ?v ?p) (in ?k ?v))
    :effect (and (pkg-at ?k ?p) (not (in ?k ?v)))))
