; Bring both packages from the depot to the shop, through the market.
(define (problem delivery-p1)
  (:domain delivery)
  (:objects market shop - place truck1 - vehicle parcel1 parcel2 - package)
  (:init (at truck1 depot) (pkg-at parcel1 depot) (pkg-at parcel2 depot)
         (road depot market) (road market depot) (road market shop) (road shop market))
  (:goal (and (pkg-at parcel1 shop) (pkg-at parcel2 shop))))
