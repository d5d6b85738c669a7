      *****************************************************************
      * XREVFND  - COMMAREA OF TRANSACTION XREV (TRANSFER REVERSAL).
      * IN:  XR-CONFIRMATION OF THE TRANSFER TO REVERSE.
      * OUT: XR-RETURN-CODE, XR-MESSAGE, XR-AMOUNT MOVED BACK, THE
      *      NEW BALANCES OF THE ORIGINAL FROM AND TO ACCOUNTS, AND
      *      XR-REVERSAL (CONFIRMATION OF THE REVERSAL).
      * XR-RETURN-CODE: 00 DONE, 50 TRANSFER NOT FOUND, 51 ALREADY
      * REVERSED, 20 NOT ENOUGH FUNDS ON THE CREDITED ACCOUNT,
      * 40 ACCOUNT FROZEN.
      * XRVV: SAME COMMAREA, VALIDATE ONLY (NOTHING IS POSTED).
      *****************************************************************
       01  XREV-COMMAREA.
           05  XR-CONFIRMATION         PIC X(12).
           05  XR-RETURN-CODE          PIC 9(2).
           05  XR-MESSAGE              PIC X(40).
           05  XR-AMOUNT               PIC S9(9)V99 COMP-3.
           05  XR-FROM-BALANCE         PIC S9(11)V99 COMP-3.
           05  XR-TO-BALANCE           PIC S9(11)V99 COMP-3.
           05  XR-REVERSAL             PIC X(12).
